// Shared test helpers: real processes, real sockets, events instead of sleeps.
import { type ChildProcess, spawn } from "node:child_process";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  watch,
} from "node:fs";
import type { EventEmitter } from "node:events";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
// @ts-types="../scripts/runtimes.d.mts"
import { commandFor, ROOT } from "../scripts/runtimes.mjs";
// @ts-types="../scripts/free_port.d.mts"
import { freePort } from "../scripts/free_port.mjs";

export { freePort, ROOT };

/** The runtime the suite runs on (set by scripts/test.mjs), used for fixtures. */
export const RUNTIME: string = process.env.TABLEFLIP_TEST_RUNTIME ?? "node20";

/** Upper bound for any single wait in a test; a wait that hits it fails the test. */
export const WAIT_LIMIT = 20_000;

/** A JSON line printed by a fixture. */
export type Line = Record<string, unknown> & { pid: number; event: string };

/** A running fixture process tree (all generations share its stdout). */
export class Fixture {
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  #waiters: { match: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];

  constructor(argv: string[], env: Record<string, string>, cwd = ROOT) {
    this.child = spawn(argv[0], argv.slice(1), {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => resolve({ code, signal }))
    );
    createInterface({ input: this.child.stdout! }).on("line", (text) => {
      let line: Line;
      try {
        line = JSON.parse(text);
      } catch {
        line = { pid: 0, event: "text", text };
      }
      this.lines.push(line);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.match(line)) return true;
        w.resolve(line);
        return false;
      });
    });
    createInterface({ input: this.child.stderr! }).on("line", (text) => this.stderr.push(text));
  }

  /** Resolves with the first line (past or future) matching; rejects after `limit` ms. */
  waitFor(match: Partial<Line> | ((l: Line) => boolean), limit = WAIT_LIMIT): Promise<Line> {
    const test = typeof match === "function"
      ? match
      : (l: Line) => Object.entries(match).every(([k, v]) => l[k] === v);
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `no line matching ${typeof match === "function" ? match : JSON.stringify(match)} ` +
              `within ${limit} ms; got:\n${this.lines.map((l) => JSON.stringify(l)).join("\n")}\n` +
              `stderr:\n${this.stderr.join("\n")}`,
          ),
        );
      }, limit);
      this.#waiters.push({
        match: test,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  /** The port generation `generation` reported listening on first. */
  async port(generation = 0): Promise<number> {
    const line = await this.waitFor({ event: "listening", generation });
    return line.port as number;
  }

  /** Sends a real signal to a pid of this tree (default: the first generation). */
  signal(signal: NodeJS.Signals, pid = this.child.pid!): void {
    process.kill(pid, signal);
  }

  /** Kills every pid this tree has reported, then the first generation. */
  async killAll(): Promise<void> {
    const pids = new Set(this.lines.map((l) => l.pid).filter((p) => p > 0));
    // Plain log lines in the demo's `[PID: n]` format name generations too.
    for (const l of this.lines) {
      const m = /^\[PID: (\d+)\]/.exec(String(l.text ?? ""));
      if (m) pids.add(Number(m[1]));
    }
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    this.child.kill("SIGKILL");
    await this.exited;
  }
}

/** Starts a fixture script from test/fixtures under the suite's runtime. */
export function startFixture(
  name: string,
  env: Record<string, string> = {},
  options: { runtime?: string; cwd?: string } = {},
): Fixture {
  const file = join(ROOT, "test", "fixtures", name);
  return new Fixture(commandFor(options.runtime ?? RUNTIME, file), env, options.cwd);
}

/** Starts test/fixtures/chaos_server.ts configured by `config` (see its header). */
export function startChaos(config: Record<string, unknown>): Fixture {
  return startFixture("chaos_server.ts", { CHAOS: JSON.stringify(config) });
}

/** Temp directories made by {@link tempDir}, removed when the test process exits. */
const made: string[] = [];
process.on("exit", () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp directory (real path), removed with its contents when the test process exits. */
export function tempDir(prefix = "tableflip-"): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  made.push(dir);
  return dir;
}

/**
 * Whether a pid is alive: it exists and has not fully exited. A zombie whose
 * threads are all gone has exited (its fds and sockets are closed) and only
 * waits to be reaped; an old generation whose own parent exited is reaped by
 * init, which here can take a second or two.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.charAt(stat.lastIndexOf(")") + 2) !== "Z") return true;
    // A zombie main thread, but other threads may still be exiting and still
    // hold the process's fds: exited only once it is the last one left.
    return readdirSync(`/proc/${pid}/task`).length > 1;
  } catch {
    return false; // gone between the two looks
  }
}

/** Resolves once `pid` has exited (polling: there is no exit event for a non-child). */
export async function waitForExit(pid: number, limit = WAIT_LIMIT): Promise<void> {
  const end = Date.now() + limit;
  while (alive(pid)) {
    if (Date.now() > end) throw new Error(`pid ${pid} still alive after ${limit} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** GET a URL (or a unix socket path) and resolve with status and body. */
export function get(
  target: { port: number; host?: string } | { socketPath: string },
  path = "/",
  agent?: http.Agent,
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", ...target, path, agent: agent ?? false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => body += d);
      res.on("end", () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      res.on("error", reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
  });
}

/** Resolves with the error code of a TCP connect to 127.0.0.1:port, or "connected". */
export function probe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve("connected");
    });
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** Resolves with a file's content once `accept(content)` holds, watching its directory. */
export function waitForFile(
  path: string,
  accept: (content: string) => boolean,
  limit = WAIT_LIMIT,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      let content: string;
      try {
        content = readFileSync(path, "utf8");
      } catch {
        return;
      }
      if (accept(content)) {
        clearTimeout(timer);
        watcher.close();
        resolve(content);
      }
    };
    const watcher = watch(dirname(path), check);
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`${path} did not reach the expected content within ${limit} ms`));
    }, limit);
    check();
  });
}

/** Resolves once `match()` holds, re-checked on each change; rejects after WAIT_LIMIT. */
export function until(changed: EventEmitter, match: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!match()) return;
      clearTimeout(timer);
      changed.off("change", check);
      resolve();
    };
    const timer = setTimeout(() => {
      changed.off("change", check);
      reject(new Error(`timed out waiting for ${what}`));
    }, WAIT_LIMIT);
    changed.on("change", check);
    check();
  });
}

/**
 * How many of `pid`'s fds point at the TCP socket listening on 127.0.0.1 or
 * any address at `port` (its inode from /proc/net/tcp and tcp6).
 */
export function fdsOnListener(pid: number, port: number): number {
  let inode: string | undefined;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const row of readFileSync(file, "utf8").split("\n").slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (cols.length > 9 && cols[3] === "0A" && parseInt(cols[1].split(":")[1], 16) === port) {
        inode = cols[9];
      }
    }
  }
  if (inode === undefined) throw new Error(`nothing listens on port ${port}`);
  const target = `socket:[${inode}]`;
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === target;
    } catch {
      return false;
    }
  }).length;
}
