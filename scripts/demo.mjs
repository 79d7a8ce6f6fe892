#!/usr/bin/env node
// Runs the seed demo (examples/demo.ts) on a runtime, and stays in the
// foreground across upgrades like a supervisor reading the PID file would:
// it returns only when the current generation (demo.pid) has exited.
//
//   npm run demo                       # the Node that runs npm
//   npm run demo -- --runtime bun      # node, node20, node22, node24, bun, deno
//   npm run demo -- --runtime deno --server native   # Deno.serve / Bun.serve
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { commandFor, ROOT } from "./runtimes.mjs";

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node" },
    server: { type: "string", default: "node" },
    file: { type: "string", default: join(ROOT, "examples", "demo.ts") },
  },
});
const pidFile = resolve(process.env.DEMO_PID_FILE ?? "demo.pid");
if (!["node", "native"].includes(values.server)) {
  console.error(`--server must be "node" (node:http) or "native" (Bun.serve / Deno.serve)`);
  process.exit(2);
}
const argv = commandFor(values.runtime, resolve(values.file));
const first = spawn(argv[0], argv.slice(1), {
  stdio: "inherit",
  env: {
    ...process.env,
    DEMO_PID_FILE: pidFile,
    ...(values.server === "native" ? { DEMO_SERVER: "native" } : {}),
  },
});

const currentPid = () => {
  try {
    return Number(readFileSync(pidFile, "utf8").trim()) || undefined;
  } catch {
    return undefined;
  }
};
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    const pid = currentPid();
    if (pid && alive(pid)) process.kill(pid, signal);
    else process.exit(130);
  });
}
first.on("exit", (code) => {
  // The first generation is gone; follow the PID file to whoever took over.
  const follow = setInterval(() => {
    const pid = currentPid();
    if (!pid || pid === first.pid || !alive(pid)) {
      clearInterval(follow);
      process.exit(code ?? 0);
    }
  }, 200);
});
