// Package stage: the seed demo, from the installed package, on one runtime.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import process from "node:process";
import { ROOT, RUNTIMES } from "../runtimes.mjs";
import { freePort } from "../free_port.mjs";
import { DENO, WAIT_MS } from "./constants.mjs";
import { alive, getVersion, readPid, sleep, stop, until } from "./wait.mjs";

/**
 * Runs the demo from `project` on runtime `name`: serves v0.0.1, then after
 * the version constant is edited and the PID file's pid gets SIGHUP, serves
 * v0.0.2 from a new process while the old one exits.
 */
export async function demo({ check, project, name, source }) {
  const dir = join(project, `demo-${name}`);
  mkdirSync(dir);
  // Node 20 cannot run TypeScript: it runs a JavaScript copy emitted by the
  // pinned TypeScript (types erased, nothing else changed); the others run
  // the .ts file as is.
  const file = join(dir, name === "node20" ? "demo.mjs" : "demo.ts");
  writeFileSync(file, name === "node20" ? toJavaScript(source) : source);
  const pidFile = join(dir, "demo.pid");
  const port = await freePort();
  const argv = name === "deno" ? [DENO, "run", "-A", "--quiet", file] : [RUNTIMES[name].exe, file];
  const first = spawn(argv[0], argv.slice(1), {
    cwd: dir,
    env: { ...process.env, DEMO_ADDR: `127.0.0.1:${port}`, DEMO_PID_FILE: pidFile },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  first.stdout.on("data", (chunk) => log += chunk);
  first.stderr.on("data", (chunk) => log += chunk);
  const firstExit = new Promise((resolve) =>
    first.once("exit", (code, signal) => resolve({ code, signal }))
  );
  const pids = new Set([first.pid]);
  // Failure details: the demo's own complaints first, else its last lines.
  const tail = () => {
    const lines = log.trim().split("\n");
    const bad = lines.filter((l) => /fail|error|can't|cannot/i.test(l));
    return `; output: ${(bad.length ? bad : lines).slice(-4).join(" | ")}`;
  };
  const upgradeFailed = () => /Upgrade failed/.test(log);
  try {
    const v1 = await until(() => getVersion(port), (b) => b === "v0.0.1");
    if (
      !check(`${name} demo: serves v0.0.1 from the installed package`, v1.ok, `${v1.last}${tail()}`)
    ) {
      return;
    }
    const before = await until(() => readPid(pidFile), (pid) => pid === first.pid);
    if (!check(`${name} demo: its PID file names it`, before.ok, `${before.last}`)) return;

    const edited = source.replace(/const version = "v0\.0\.1";/, `const version = "v0.0.2";`);
    const current = readFileSync(file, "utf8");
    const next = name === "node20" ? toJavaScript(edited) : edited;
    if (!check(`${name} demo: version constant edited`, edited !== source && next !== current)) {
      return;
    }
    writeFileSync(file, next);
    process.kill(before.value, "SIGHUP");

    // Stop waiting early once the demo has logged that the upgrade failed.
    const v2 = await until(() => getVersion(port), (b) => b === "v0.0.2", WAIT_MS, upgradeFailed);
    check(`${name} demo: answers v0.0.2 after SIGHUP`, v2.ok, `${v2.last}${tail()}`);
    const after = await until(
      () => readPid(pidFile),
      (pid) => pid && pid !== first.pid,
      v2.ok ? WAIT_MS : 1_000,
    );
    if (after.value) pids.add(after.value);
    check(
      `${name} demo: the PID file names the new process, which is alive`,
      after.ok && alive(after.value),
      `${after.last}`,
    );
    const exitLimit = v2.ok ? WAIT_MS : 1_000;
    const exited = await Promise.race([firstExit, sleep(exitLimit).then(() => undefined)]);
    check(
      `${name} demo: the old process exited cleanly`,
      exited && exited.code === 0,
      `${exited ? JSON.stringify(exited) : `still running after ${exitLimit} ms`}${tail()}`,
    );
  } finally {
    for (const pid of pids) await stop(pid);
  }
}

/** Strips the demo's TypeScript with the pinned compiler (for Node 20). */
export function toJavaScript(source) {
  const ts = createRequire(join(ROOT, "package.json"))("typescript");
  return ts.transpileModule(source, {
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      verbatimModuleSyntax: true,
    },
  }).outputText;
}
