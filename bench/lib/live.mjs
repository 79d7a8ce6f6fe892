// What a benchmark has started and must stop on Ctrl-C or an error: process
// groups, child processes, the stats directories of worker processes (whose
// pids are killed) and temp directories, one run's dirs at a time.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { killWorkers } from "./variants.mjs";

/** The things to stop; `cleanUp()` stops them all, `exitOnSignals()` on SIGINT/SIGTERM. */
export class Live {
  /** Process group ids (killed with `kill(-pgid)`). */
  groups = new Set();
  /** Child processes. */
  children = new Set();
  /** Worker stats directories (lib/variants.mjs): their live workers are killed. */
  statsDirs = new Set();
  /** Temp directories, removed. */
  dirs = new Set();
  #more = [];

  /** A temp dir for one run with a `stats/` dir in it, both remembered until {@link endRun}. */
  startRun(prefix) {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    const statsDir = join(dir, "stats");
    mkdirSync(statsDir);
    this.dirs.add(dir);
    this.statsDirs.add(statsDir);
    return { dir, statsDir };
  }

  /** Kills the run's remaining workers and removes its dirs. */
  endRun({ dir, statsDir }) {
    killWorkers(statsDir);
    this.statsDirs.delete(statsDir);
    rmSync(dir, { recursive: true, force: true });
    this.dirs.delete(dir);
  }

  /** Something else to undo at clean-up (e.g. PM2's daemon). */
  onCleanUp(fn) {
    this.#more.push(fn);
  }

  /** Stops and removes everything remembered. */
  cleanUp() {
    for (const child of this.children) child.kill("SIGKILL");
    for (const group of this.groups) {
      try {
        process.kill(-group, "SIGKILL");
      } catch { /* gone */ }
    }
    for (const dir of this.statsDirs) killWorkers(dir);
    for (const fn of this.#more) fn();
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }

  /** On SIGINT or SIGTERM: `message`, clean up, exit 130. */
  exitOnSignals(message = "stopping everything the bench started") {
    for (const signal of ["SIGINT", "SIGTERM"]) {
      process.on(signal, () => {
        console.error(`\n${signal}: ${message}`);
        this.cleanUp();
        process.exit(130);
      });
    }
  }
}
