// The demo (examples/demo.ts) as a service under test, run either under the
// supervisor (`tableflip run`, upgraded by SIGHUP to the supervisor) or
// directly (upgraded by SIGHUP to the pid in its PID file). Each service runs
// in a process group of its own, killed as a whole when it stops, and on exit
// or Ctrl-C of the benchmark.
import { spawn } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { commandFor, ROOT } from "../../scripts/runtimes.mjs";
import { withFdLimit } from "./loadproc.mjs";
import { addDescendants, alive } from "./procs.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// Wall-clock ms comparable with Date.now() and file mtimes, monotonic within this run.
const EPOCH0 = Date.now();
const PERF0 = performance.now();
export const now = () => EPOCH0 + (performance.now() - PERF0);

/** Polls `check` every `every` ms until it returns a value other than undefined. */
export async function until(check, what, limit = 60_000, every = 5) {
  const end = Date.now() + limit;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${limit} ms waiting for ${what}`);
    await sleep(every);
  }
}

const readPid = (file) => {
  try {
    return Number(readFileSync(file, "utf8").trim()) || undefined;
  } catch {
    return undefined;
  }
};

/** Services not yet stopped. */
const live = new Set();
process.on("exit", () => {
  for (const service of live) service.kill();
});
for (const [signal, number] of [["SIGHUP", 1], ["SIGINT", 2], ["SIGTERM", 15]]) {
  process.on(signal, () => process.exit(128 + number));
}

export class Service {
  /**
   * @param {{ via: "supervisor" | "direct", runtime: string, dir: string, port: number,
   *   env?: Record<string, string>, workers?: number }} options
   *   `dir`: a private (0700) directory for the PID files and the control socket;
   *   `env`: more environment for the demo (e.g. DEMO_DRAIN_SPREAD);
   *   `workers`: under the supervisor, its `--workers` (default 1).
   */
  constructor({ via, runtime, dir, port, env = {}, workers = 1 }) {
    this.via = via;
    this.workers = workers;
    this.env = env;
    this.runtime = runtime;
    this.port = port;
    this.appPidFile = join(dir, "app.pid");
    this.supPidFile = join(dir, "supervisor.pid");
    this.control = join(dir, "control.sock");
    /** Every generation's pid, in order. */
    this.generations = [];
    this.stderr = "";
  }

  /** Starts the service and resolves once its first generation serves. */
  async start() {
    const app = commandFor(this.runtime, join(ROOT, "examples", "demo.ts"));
    const argv = this.via === "direct" ? app : commandFor(
      this.runtime,
      join(ROOT, "cli", "bin.ts"),
      [
        "run",
        ...(this.workers > 1 ? ["--workers", String(this.workers)] : []),
        ...["--listen", `tcp:127.0.0.1:${this.port}`, "--pid-file", this.supPidFile],
        ...["--control", this.control, "--"],
        ...app,
      ],
    );
    const [exe, ...args] = withFdLimit(argv);
    this.child = spawn(exe, args, {
      cwd: ROOT,
      detached: true,
      env: {
        ...process.env,
        ...this.env,
        DEMO_ADDR: `127.0.0.1:${this.port}`,
        DEMO_PID_FILE: this.appPidFile,
      },
      // The demo logs every request to stdout; nobody reads it here.
      stdio: ["ignore", "ignore", "pipe"],
    });
    live.add(this);
    this.exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.stderr.setEncoding("utf8");
    createInterface({ input: this.child.stderr }).on("line", (line) => {
      this.stderr = (this.stderr + line + "\n").slice(-4000);
      const started = /generation \d+(?: worker \d+)? \(pid (\d+)\) started/.exec(line);
      if (started) this.generations.push(Number(started[1]));
    });
    if (this.via === "direct") {
      this.generations.push(this.child.pid);
      await until(
        () => (readPid(this.appPidFile) === this.child.pid ? true : undefined),
        `the demo on ${this.runtime} to serve (stderr: ${this.stderr})`,
      );
    } else {
      const ready = /generation 1( worker \d+)? \(pid \d+\) is ready/g;
      await until(
        () => ((this.stderr.match(ready)?.length ?? 0) >= this.workers ? true : undefined),
        `the supervisor on ${this.runtime} to serve (stderr: ${this.stderr})`,
      );
    }
  }

  /** The supervisor's pid (undefined when run directly). */
  get supervisorPid() {
    return this.via === "supervisor" ? this.child.pid : undefined;
  }

  /** The pid of the serving generation (from the PID file the demo writes). */
  get servingPid() {
    return readPid(this.appPidFile);
  }

  /** Generations still alive. */
  liveGenerations() {
    return this.generations.filter((pid) => alive(pid));
  }

  /**
   * One upgrade: SIGHUP (to the supervisor, or to the serving process), then
   * waits for the new generation to write the PID file and the old one to
   * exit. Resolves with { old, next, hup, ready, exit } (epoch ms).
   */
  async upgrade() {
    const old = this.servingPid;
    const target = this.supervisorPid ?? old;
    // Without the supervisor, a process refuses to upgrade (ERR_PARENT_ALIVE)
    // until it has seen its own parent exit, a few ms after the exit itself;
    // allow 200 ms and, should SIGHUP still be refused, send it again.
    if (this.via === "direct" && old !== this.child.pid) await sleep(200);
    let hup = now();
    process.kill(target, "SIGHUP");
    const next = await until(() => {
      const pid = this.servingPid;
      if (pid && pid !== old) return pid;
      if (this.via === "direct" && now() - hup > 10_000) {
        hup = now();
        process.kill(target, "SIGHUP");
      }
      return undefined;
    }, `a new generation after SIGHUP to ${target} (stderr: ${this.stderr})`);
    // The PID file is written just before the generation reports ready: its mtime is when.
    const ready = statSync(this.appPidFile).mtimeMs;
    if (this.via === "direct") this.generations.push(next);
    await until(() => (alive(old) ? undefined : true), `old generation ${old} to exit`);
    return { old, next, hup, ready, exit: now() };
  }

  /** SIGKILL to the service's process group and every process it started. */
  kill() {
    live.delete(this);
    if (!this.child) return;
    const pids = addDescendants(new Set([this.child.pid, ...this.generations]));
    try {
      process.kill(-this.child.pid, "SIGKILL");
    } catch { /* gone */ }
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }

  /** Stops the service: SIGTERM to the supervisor (up to 3 s), then SIGKILL to all of it. */
  async stop() {
    if (this.via === "supervisor" && this.child.exitCode === null) {
      try {
        process.kill(this.child.pid, "SIGTERM");
      } catch { /* gone */ }
      await Promise.race([this.exited, sleep(3000)]);
    }
    this.kill();
    await Promise.race([this.exited, sleep(3000)]);
  }
}
