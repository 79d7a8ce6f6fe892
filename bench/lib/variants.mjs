// The ways bench/workers_bench.mjs runs the same app (servers/hello.mjs)
// on Node 22, each with its own way to reload:
//   tableflip   one process (servers/hello_tableflip.mjs), SIGHUP to the pid in its PID file
//   supervisor  tableflip run --workers 2 (same file per worker), SIGHUP to the supervisor
//   rolling     the same with --rolling (not in the default set: --only rolling)
//   cluster     node:cluster primary + 2 workers (servers/hello_cluster.mjs), SIGHUP to the primary
//   pm2         PM2 7.0.4 cluster mode, 2 instances (servers/hello_pm2.mjs), `pm2 reload`
// Every worker writes its request count to `statsDir/<pid>` (servers/hello.mjs),
// which is how the bench finds the workers, whatever started them.
import { createInterface } from "node:readline";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import process from "node:process";
import { ROOT, RUNTIMES } from "../../scripts/runtimes.mjs";
import { alive } from "./procs.mjs";

const NODE = RUNTIMES.node22.exe;
const SERVERS = join(ROOT, "bench", "servers");

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `every` ms until it resolves to a value other than undefined. */
export async function until(check, what, limit = 30_000, every = 10) {
  const end = Date.now() + limit;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${limit} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** Request counts by worker pid, as the workers last wrote them. */
export function workerCounts(statsDir) {
  const counts = new Map();
  for (const name of readdirSync(statsDir)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      counts.set(Number(name), Number(readFileSync(join(statsDir, name), "utf8")) || 0);
    } catch { /* being written */ }
  }
  return counts;
}

/** The worker pids that are alive. */
export function liveWorkers(statsDir) {
  return [...workerCounts(statsDir).keys()].filter(alive);
}

/** Whether `GET /` on 127.0.0.1:port answers 200. */
function answers(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.setTimeout(1000, () => req.destroy());
  });
}

/** Resolves once `workers` workers are alive and the port answers. */
async function serving(ctx, workers, what) {
  await until(
    async () =>
      liveWorkers(ctx.statsDir).length >= workers && await answers(ctx.port) ? true : undefined,
    what,
    30_000,
    50,
  );
}

/**
 * Spawns `argv` in a process group of its own; keeps the last 4 kB of its
 * stderr in `stderrTail`, and with `lines` its stdout lines in `lines`.
 */
export function spawnGroup(argv, env, { lines = false } = {}) {
  const child = spawn(argv[0], argv.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", lines ? "pipe" : "ignore", "pipe"],
    detached: true,
  });
  if (lines) {
    child.lines = [];
    createInterface({ input: child.stdout }).on("line", (l) => child.lines.push(l));
  }
  child.stderrTail = "";
  child.stderr.on("data", (d) => child.stderrTail = (child.stderrTail + d).slice(-4000));
  return child;
}

/** SIGTERM to the group, up to `graceMs` for `child` to exit, then SIGKILL to the group. */
async function stopGroup(child, graceMs = 3000) {
  const signal = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch { /* gone */ }
  };
  signal("SIGTERM");
  const exited = child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", resolve));
  await Promise.race([exited, sleep(graceMs)]);
  signal("SIGKILL");
}

/** SIGKILL to every worker of the run still alive (a safety net after stop). */
export function killWorkers(statsDir) {
  for (const pid of liveWorkers(statsDir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

const readPid = (file) => {
  try {
    return Number(readFileSync(file, "utf8").trim()) || undefined;
  } catch {
    return undefined;
  }
};

/**
 * A running variant: `managerPid` (supervisor, primary or PM2 daemon; none
 * for tableflip alone), `groups` (process groups to kill on Ctrl-C),
 * `reload()` (resolves once the reload was asked for), `stop()`.
 * @typedef {{ managerPid?: number, groups: number[], reload(): Promise<unknown>, stop(): Promise<void> }} Running
 * `pkg`: the built package (lib/package.mjs) that the supervisor and the tableflip apps run from.
 * @typedef {{ port: number, dir: string, statsDir: string, pm2?: import("./pm2.mjs").Pm2,
 *   pkg: { mod: string, cli: string } }} Context
 */

/**
 * `tableflip run --workers 2 [flags]` (the built package's CLI) with
 * servers/hello_tableflip.mjs as each worker.
 */
function supervised(label, flags) {
  return {
    label,
    workers: 2,
    async start(ctx) {
      const pidFile = join(ctx.dir, "supervisor.pid");
      const child = spawnGroup([
        NODE,
        ctx.pkg.cli,
        "run",
        "--workers",
        "2",
        ...flags,
        "--listen",
        `tcp:127.0.0.1:${ctx.port}`,
        "--pid-file",
        pidFile,
        "--no-control",
        "--",
        NODE,
        join(SERVERS, "hello_tableflip.mjs"),
      ], { BENCH_STATS_DIR: ctx.statsDir, BENCH_TABLEFLIP: ctx.pkg.mod });
      await serving(ctx, 2, `the supervisor (stderr: ${child.stderrTail})`);
      return {
        managerPid: child.pid,
        groups: [child.pid],
        reload: () => Promise.resolve(process.kill(child.pid, "SIGHUP")),
        stop: () => stopGroup(child),
      };
    },
  };
}

/**
 * `waitsForOldExit`: the next reload may be asked for only once the old
 * process has exited (a tableflip process refuses ERR_PARENT_ALIVE until then).
 * @type {Record<string, { label: string, workers: number, waitsForOldExit?: boolean,
 *   start(ctx: Context): Promise<Running> }>}
 */
export const VARIANTS = {
  tableflip: {
    label: "tableflip (1 process)",
    workers: 1,
    waitsForOldExit: true,
    async start(ctx) {
      const pidFile = join(ctx.dir, "app.pid");
      const child = spawnGroup([NODE, join(SERVERS, "hello_tableflip.mjs")], {
        BENCH_ADDR: `127.0.0.1:${ctx.port}`,
        BENCH_PID_FILE: pidFile,
        BENCH_STATS_DIR: ctx.statsDir,
        BENCH_TABLEFLIP: ctx.pkg.mod,
      });
      await serving(ctx, 1, `tableflip (stderr: ${child.stderrTail})`);
      return {
        groups: [child.pid],
        reload: () => Promise.resolve(process.kill(readPid(pidFile), "SIGHUP")),
        stop: () => stopGroup(child),
      };
    },
  },
  supervisor: supervised("tableflip run --workers 2", []),
  // Not in the default set (--only rolling): one worker at a time.
  rolling: supervised("tableflip run --workers 2 --rolling", ["--rolling"]),
  cluster: {
    label: "node:cluster, 2 workers",
    workers: 2,
    async start(ctx) {
      const child = spawnGroup([NODE, join(SERVERS, "hello_cluster.mjs")], {
        BENCH_ADDR: `127.0.0.1:${ctx.port}`,
        BENCH_WORKERS: "2",
        BENCH_STATS_DIR: ctx.statsDir,
      });
      await serving(ctx, 2, `the cluster (stderr: ${child.stderrTail})`);
      return {
        managerPid: child.pid,
        groups: [child.pid],
        reload: () => Promise.resolve(process.kill(child.pid, "SIGHUP")),
        stop: () => stopGroup(child),
      };
    },
  },
  pm2: {
    label: "PM2 7.0.4 cluster, 2 instances",
    workers: 2,
    async start(ctx) {
      const pm2 = ctx.pm2;
      if (!pm2) throw new Error("no PM2");
      await pm2.start(join(SERVERS, "hello_pm2.mjs"), {
        BENCH_ADDR: `127.0.0.1:${ctx.port}`,
        BENCH_STATS_DIR: ctx.statsDir,
      }, 2);
      await serving(ctx, 2, "PM2's instances");
      const daemon = pm2.daemonPid();
      return {
        managerPid: daemon,
        groups: daemon ? [daemon] : [],
        reload: () => pm2.reload(),
        stop: async () => {
          await Promise.race([pm2.delete().catch(() => {}), sleep(10_000)]);
        },
      };
    },
  },
};
