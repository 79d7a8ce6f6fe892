// The tableflip command from the installed package: `--help` through npx,
// bunx and deno run, and the seed demo under the supervisor.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { RUNTIMES } from "../runtimes.mjs";
import { freePort } from "../free_port.mjs";
import { DENO, WAIT_MS } from "./constants.mjs";
import { alive, getVersion, sleep, stop, until } from "./wait.mjs";

/** `tableflip --help` through npx, bunx and deno run, from the installed package. */
export async function cliFromPackage({ run, check, project }) {
  const bin = join(project, "node_modules", "tableflip", "esm", "cli", "bin.js");
  const ways = [
    ["npx", ["npx", "--offline", "tableflip", "--help"]],
    ["bunx", [RUNTIMES.bun.exe, "x", "tableflip", "--help"]],
    ["deno run", [DENO, "run", "-A", "--quiet", bin, "--help"]],
  ];
  for (const [how, argv] of ways) {
    const result = await run(argv, { cwd: project, timeout: 60_000 });
    check(
      `${how} tableflip --help`,
      result.code === 0 && /Usage: tableflip <command>/.test(result.output),
      `exit ${result.code}: ${result.output.slice(-300)}`,
    );
  }
}

/**
 * The demo under the installed supervisor on runtime `name`: serves v0.0.1,
 * answers v0.0.2 after the version is edited and the supervisor gets SIGHUP,
 * the supervisor's pid stays, and SIGTERM ends it with exit code 0.
 */
export async function supervisedDemo({ check, project, name, source }) {
  const dir = join(project, `supervised-${name}`);
  mkdirSync(dir);
  const file = join(dir, "demo.ts");
  writeFileSync(file, source);
  const port = await freePort();
  const bin = join(project, "node_modules", "tableflip", "esm", "cli", "bin.js");
  const runtime = name === "deno" ? [DENO, "run", "-A", "--quiet"] : [RUNTIMES[name].exe];
  const argv = [
    ...runtime,
    bin,
    "run",
    "--listen",
    `tcp:127.0.0.1:${port}`,
    "--",
    ...runtime,
    file,
  ];
  const sv = spawn(argv[0], argv.slice(1), {
    cwd: dir,
    env: { ...process.env, DEMO_ADDR: `127.0.0.1:${port}`, DEMO_PID_FILE: join(dir, "gen.pid") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  sv.stdout.on("data", (chunk) => log += chunk);
  sv.stderr.on("data", (chunk) => log += chunk);
  const exited = new Promise((resolve) =>
    sv.once("exit", (code, signal) => resolve({ code, signal }))
  );
  const tail = () => `; output: ${log.trim().split("\n").slice(-4).join(" | ")}`;
  try {
    const v1 = await until(() => getVersion(port), (b) => b === "v0.0.1");
    if (!check(`${name} supervised demo: serves v0.0.1`, v1.ok, `${v1.last}${tail()}`)) return;
    writeFileSync(file, source.replace(/const version = "v0\.0\.1";/, `const version = "v0.0.2";`));
    process.kill(sv.pid, "SIGHUP");
    const v2 = await until(() => getVersion(port), (b) => b === "v0.0.2");
    check(`${name} supervised demo: answers v0.0.2 after SIGHUP`, v2.ok, `${v2.last}${tail()}`);
    check(`${name} supervised demo: the supervisor's pid stayed`, alive(sv.pid));
    process.kill(sv.pid, "SIGTERM");
    const exit = await Promise.race([exited, sleep(WAIT_MS).then(() => undefined)]);
    check(
      `${name} supervised demo: SIGTERM drains and exits 0`,
      exit && exit.code === 0,
      `${JSON.stringify(exit)}${tail()}`,
    );
  } finally {
    await stop(sv.pid);
  }
}
