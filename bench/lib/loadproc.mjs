// Runs lib/load.mjs (the load generator) in a process of its own, and the
// shell wrapper that raises a process's open-file limit before it starts.
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** Load generators still running: killed when the benchmark exits (also on Ctrl-C). */
const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/**
 * `argv` run through /bin/sh with the soft fd limit raised to the hard one
 * (`ulimit -n`); the shell execs, so the pid is the program's.
 * @param {string[]} argv
 * @returns {string[]}
 */
export function withFdLimit(argv) {
  return ["/bin/sh", "-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', "sh", ...argv];
}

/**
 * Starts the load generator with `config` (see lib/load.mjs; `dir` holds its
 * result file). `started` resolves with its start time (epoch ms), `done` with
 * its result: { start, end, resT, resLat, failures, cpu }. `node` is the
 * Node.js that runs it (default: the one running the benchmark).
 * @param {object} config
 * @param {string} [node]
 */
export function startLoad(config, node = process.execPath) {
  const out = join(config.dir, `load-${Math.random().toString(36).slice(2)}.json`);
  const argv = withFdLimit([
    node,
    fileURLToPath(new URL("load.mjs", import.meta.url)),
    JSON.stringify({ ...config, out }),
  ]);
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  const started = new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = /^started ([\d.]+)/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", () => reject(new Error("the load generator exited before starting")));
  });
  const done = new Promise((resolve, reject) => {
    child.once("exit", (code) => {
      if (code !== 0) return reject(new Error(`the load generator exited with ${code}`));
      const result = JSON.parse(readFileSync(out, "utf8"));
      rmSync(out, { force: true });
      resolve(result);
    });
  });
  return { child, started, done };
}
