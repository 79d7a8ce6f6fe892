// Running `tableflip run` (cli/main.ts) and the other verbs in tests: the
// supervisor on the suite's runtime, generations from test/fixtures.
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
// @ts-types="../scripts/runtimes.d.mts"
import { commandFor } from "../scripts/runtimes.mjs";
import { Fixture, type Line, ROOT, RUNTIME, tempDir } from "./_helpers.ts";

/** The argv that runs the tableflip CLI with `args` on `runtime`. */
export function cliArgv(args: string[], runtime = RUNTIME): string[] {
  return commandFor(runtime, join(ROOT, "cli", "bin.ts"), args);
}

/** The argv that runs fixture `name` on `runtime`. */
export function fixtureArgv(name = "server.ts", runtime = RUNTIME): string[] {
  return commandFor(runtime, join(ROOT, "test", "fixtures", name));
}

/** A supervisor started for a test, with its control socket and log. */
export interface Supervised {
  /** The process tree: the supervisor's stdout carries the generations' JSON lines. */
  f: Fixture;
  /** Its control socket. */
  control: string;
  /** Resolves with the first supervisor log line (stderr) matching `pattern`. */
  logged(pattern: RegExp): Promise<string>;
  /** Resolves with the first `ready` line of generation `n`. */
  ready(n: number): Promise<Line>;
}

/**
 * Starts `tableflip run ARGS -- <fixture>` with the fixture configured by
 * `config` (see test/fixtures/server.ts). `wrap` goes before the supervisor
 * (e.g. `unshare ...` or `systemd-socket-activate ...`).
 */
export function startSupervisor(
  args: string[],
  config: Record<string, unknown> = {},
  options: { wrap?: string[]; env?: Record<string, string>; command?: string[] } = {},
): Supervised {
  const control = join(tempDir("tableflip-ctl-"), "control", "sv.sock");
  const argv = [
    ...(options.wrap ?? []),
    ...cliArgv(["run", "--control", control, ...args, "--", ...(options.command ?? fixtureArgv())]),
  ];
  const f = new Fixture(argv, { FIXTURE: JSON.stringify(config), ...options.env });
  return {
    f,
    control,
    logged: (pattern) => waitForStderr(f, pattern),
    ready: (n) => f.waitFor({ event: "ready", generation: n }),
  };
}

/** Resolves with the first stderr line matching `pattern`, looking again as output arrives. */
export async function waitForStderr(f: Fixture, pattern: RegExp, limit = 20_000): Promise<string> {
  const end = Date.now() + limit;
  for (;;) {
    const found = f.stderr.find((l) => pattern.test(l));
    if (found) return found;
    if (Date.now() > end) {
      throw new Error(`no stderr line matching ${pattern}; stderr:\n${f.stderr.join("\n")}`);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, end - Date.now());
      f.child.stderr!.once("data", () => {
        clearTimeout(timer);
        setImmediate(resolve);
      });
    });
  }
}

/** Runs the CLI to its end: exit code and output. */
export function runCli(
  args: string[],
  options: { prefix?: string[]; env?: Record<string, string>; runtime?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const argv = [...(options.prefix ?? []), ...cliArgv(args, options.runtime)];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => stdout += d);
    child.stderr.on("data", (d) => stderr += d);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
