// Starts lib/load.mjs (the load generator) in a process of its own.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ROOT } from "../../scripts/runtimes.mjs";

/**
 * Starts the load with `config` (see lib/load.mjs; `out` goes to config.dir)
 * on the Node at `node`. Returns the child, a promise of its start time
 * (epoch ms) and a promise of its results.
 * @param {Record<string, unknown> & { dir: string }} config
 * @param {string} node
 */
export function startLoad(config, node) {
  const out = join(config.dir, "load.json");
  const child = spawn(node, [
    join(ROOT, "bench", "lib", "load.mjs"),
    JSON.stringify({
      ...config,
      out,
    }),
  ], { stdio: ["ignore", "pipe", "inherit"] });
  const started = new Promise((resolve) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = /^started ([\d.]+)/.exec(line);
      if (m) resolve(Number(m[1]));
    });
  });
  const done = new Promise((resolve, reject) => {
    child.once("exit", (code) => {
      if (code !== 0) return reject(new Error(`the load generator exited with ${code}`));
      resolve(JSON.parse(readFileSync(out, "utf8")));
    });
  });
  return { child, started, done };
}
