#!/usr/bin/env node
// Workers side by side: the same small HTTP app (servers/hello.mjs) as one
// tableflip process, `tableflip run --workers 2`, node:cluster with 2 workers
// and PM2 7.0.4 in cluster mode with 2 instances, all on Node 22, each
// reloaded 3 times under load (wrk, one thread, lib/wrk.mjs; or with
// --load autocannon, lib/load.mjs in its own process), keep-alive and a new
// connection per request, 32 and 1,000 connections.
// Reports requests/s (in total and per worker), failed requests, latency,
// how the requests split between the workers, reload times and the CPU of
// the workers, the manager process and the load generator. See bench/README.md.
//
//   node bench/workers_bench.mjs            # 2 rounds of 16 runs of 12 s: about 10 min
//   node bench/workers_bench.mjs --quick    # 1 round of 16 runs of 8 s: about 4 min
//   node bench/workers_bench.mjs --only pm2,supervisor --connections 32 --modes keepalive
//   node bench/workers_bench.mjs --load autocannon   # the generator of the runs before 2026-12-05
//   node bench/workers_bench.mjs --reloads 0   # steady state: no reload in the runs
//   node bench/workers_bench.mjs --render bench/results/workers.json
//
// Writes bench/results/workers.md and workers.json (--out DIR to change).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { ROOT, RUNTIMES } from "../scripts/runtimes.mjs";
import { freePort } from "../scripts/free_port.mjs";
import { Live } from "./lib/live.mjs";
import { buildPackage } from "./lib/package.mjs";
import { startLoad as startLoadProcess } from "./lib/loadproc.mjs";
import { Pm2 } from "./lib/pm2.mjs";
import { addDescendants, alive, cpuTicks, openFilesLimit, TICKS_PER_SECOND } from "./lib/procs.mjs";
import { liveWorkers, sleep, until, VARIANTS, workerCounts } from "./lib/variants.mjs";
import { summarize, workersMarkdown } from "./lib/workers_report.mjs";
import { startWrk, wrkVersion } from "./lib/wrk.mjs";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    out: { type: "string", default: join(ROOT, "bench", "results") },
    only: { type: "string", default: "tableflip,supervisor,cluster,pm2" },
    connections: { type: "string", default: "32,1000" },
    rounds: { type: "string" },
    modes: { type: "string", default: "keepalive,close" },
    render: { type: "string" },
    load: { type: "string", default: "wrk" },
    reloads: { type: "string", default: "3" },
  },
});
if (!["wrk", "autocannon"].includes(values.load)) {
  console.error(`--load is wrk or autocannon, not ${values.load}`);
  process.exit(2);
}
const WRK = values.load === "wrk" ? wrkVersion() : undefined;
if (values.load === "wrk" && !WRK) {
  console.error("wrk is not installed: apt-get install wrk (or --load autocannon)");
  process.exit(2);
}

if (values.render) {
  const saved = JSON.parse(readFileSync(values.render, "utf8"));
  writeFileSync(join(values.out, "workers.md"), workersMarkdown(saved));
  console.log(workersMarkdown(saved));
  process.exit(0);
}

const QUICK = values.quick;
/** Load duration (s) and when each reload is asked for (s after the load starts, or later). */
const DURATION = QUICK ? 8 : 12;
const RELOADS = Number(values.reloads);
if (!Number.isInteger(RELOADS) || RELOADS < 0 || RELOADS > 3) {
  console.error(`--reloads is 0 to 3, not ${values.reloads}`);
  process.exit(2);
}
const RELOADS_AT = (QUICK ? [1.5, 3.5, 5.5] : [2.5, 5.5, 8.5]).slice(0, RELOADS);
/** How long the bench waits for a reload's old workers to exit (else: recorded as null). */
const RELOAD_LIMIT_MS = 15_000;
/** Every configuration this many times; odd rounds take the variants in reverse order. */
const ROUNDS = Number(values.rounds ?? (QUICK ? 1 : 2));
const NODE = RUNTIMES.node22.exe;
const names = values.only.split(",").filter((n) => n in VARIANTS);
const configs = values.modes.split(",").flatMap((mode) =>
  values.connections.split(",").map((c) => ({ mode, connections: Number(c) }))
).sort((a, b) => a.connections - b.connections);

const EPOCH0 = Date.now();
const PERF0 = performance.now();
const now = () => EPOCH0 + (performance.now() - PERF0);

/** The built package, which the supervisor and the tableflip apps load as users do. */
const PKG = buildPackage();

/** What to stop on Ctrl-C or an error: process groups, the load process, PM2. */
const live = new Live();
const pm2 = names.includes("pm2")
  ? new Pm2(mkdtempSync(join(tmpdir(), "tableflip-pm2-home-")))
  : undefined;
if (pm2) {
  live.onCleanUp(() => {
    pm2.killSync();
    rmSync(pm2.home, { recursive: true, force: true });
  });
}
live.exitOnSignals();

/** The load process (wrk, or lib/load.mjs on Node 22), remembered for Ctrl-C. */
function startLoad(config) {
  const load = values.load === "wrk" ? startWrk(config) : startLoadProcess(config, NODE);
  live.children.add(load.child);
  load.child.once("exit", () => live.children.delete(load.child));
  return load;
}

/** Samples the CPU ticks of the workers and of the manager (and its other children). */
function cpuSampler(statsDir, managerPid) {
  const worker = new Map();
  const manager = new Map();
  const sample = () => {
    const workers = new Set(workerCounts(statsDir).keys());
    for (const pid of workers) {
      const t = cpuTicks(pid);
      if (t) worker.set(pid, Math.max(worker.get(pid) ?? 0, t));
    }
    if (managerPid === undefined) return;
    for (const pid of addDescendants(new Set([managerPid]))) {
      if (workers.has(pid)) continue;
      const t = cpuTicks(pid);
      if (t) manager.set(pid, Math.max(manager.get(pid) ?? 0, t));
    }
  };
  sample();
  const base = { worker: new Map(worker), manager: new Map(manager) };
  const timer = setInterval(sample, 200);
  const used = (m, b) => [...m].reduce((s, [pid, t]) => s + t - (b.get(pid) ?? 0), 0);
  return {
    stop() {
      clearInterval(timer);
      sample();
      // A new worker counts as the manager's child until it writes its first count: once
      // known as a worker, all of its CPU (its start-up too) is the workers'.
      for (const pid of worker.keys()) manager.delete(pid);
      return {
        workers: used(worker, base.worker) / TICKS_PER_SECOND,
        manager: used(manager, base.manager) / TICKS_PER_SECOND,
      };
    },
  };
}

/**
 * One reload: resolves once its new workers are up (`served`) with the
 * timings so far; `gone` resolves once every old worker has exited (ms after
 * asking, or null after RELOAD_LIMIT_MS).
 */
async function reload(running, variant, statsDir, start) {
  const before = new Set(liveWorkers(statsDir));
  const asked = now();
  await running.reload();
  const commandMs = now() - asked;
  const fresh = () => liveWorkers(statsDir).filter((pid) => !before.has(pid));
  let newMs = null;
  try {
    await until(() => fresh().length >= variant.workers || undefined, "new workers", 10_000);
    newMs = now() - asked;
  } catch { /* none: recorded as null */ }
  const workers = fresh();
  const gone = until(
    () => [...before].some(alive) ? undefined : true,
    "the old workers to exit",
    RELOAD_LIMIT_MS,
  ).then(() => now() - asked, () => null);
  return { timings: { at: asked - start, commandMs, newMs }, gone, workers };
}

/** One run: a variant under load for DURATION s, reloaded at RELOADS_AT. */
async function runOne(name, { mode, connections }) {
  const variant = VARIANTS[name];
  const run = live.startRun("tableflip-workers-");
  const { dir, statsDir } = run;
  const port = await freePort();
  const running = await variant.start({ port, dir, statsDir, pm2, pkg: PKG });
  for (const g of running.groups) if (name !== "pm2") live.groups.add(g);
  try {
    await sleep(300);
    const cpu = cpuSampler(statsDir, running.managerPid);
    const load = startLoad({
      kind: "http",
      port,
      path: "/",
      connections,
      mode,
      duration: DURATION,
      timeout: 5,
      dir,
    });
    const start = await load.started;
    const reloads = [];
    let lastCounts = new Map();
    let next = 0;
    for (const at of RELOADS_AT) {
      await sleep(Math.max(0, start + at * 1000 - now(), next - now()));
      if (now() > start + DURATION * 1000 - 1000) break;
      const r = await reload(running, variant, statsDir, start);
      reloads.push(r);
      // The next reload: once the new workers are up, and (tableflip alone, which refuses
      // an upgrade until then) the old process has exited; then 300 ms more.
      if (variant.waitsForOldExit) await r.gone;
      next = now() + 300;
      lastCounts = workerCounts(statsDir);
    }
    const result = await load.done;
    await sleep(250); // a last count from every worker
    const counts = workerCounts(statsDir);
    const used = cpu.stop();
    // The last generation: the workers the last reload started (or the first ones), from
    // then to the end.
    const lastPids = reloads.at(-1)?.workers ?? [...counts.keys()];
    const lastGen = lastPids.map((pid) => ({
      pid,
      requests: (counts.get(pid) ?? 0) - (lastCounts.get(pid) ?? 0),
    }));
    return summarize({
      variant: name,
      label: variant.label,
      workers: variant.workers,
      mode,
      connections,
      result,
      reloads: await Promise.all(
        reloads.map(async (r) => ({ ...r.timings, goneMs: await r.gone })),
      ),
      lastGen,
      counts: Object.fromEntries(counts),
      cpu: used,
    });
  } finally {
    await running.stop();
    for (const g of running.groups) live.groups.delete(g);
    live.endRun(run);
  }
}

const FILES = openFilesLimit();
const maxConnections = Math.max(...configs.map((c) => c.connections));
if (Number(FILES.hard) < maxConnections * 2 + 256) {
  console.error(
    `warning: the hard limit of open files is ${FILES.hard}; ${maxConnections} connections ` +
      "need about twice as many (raise it: ulimit -Hn, prlimit, LimitNOFILE=)",
  );
}
const runs = [];
const startedAt = new Date();
const loadAtStart = loadavg()[0];
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, config] of configs.entries()) {
      // Alternate the order: each variant goes first, second, ... once over the configs.
      const order = names.map((_, k) => names[(k + i) % names.length]);
      if (round % 2) order.reverse();
      for (const name of order) {
        const label = `${VARIANTS[name].label} · ${config.mode} · ${config.connections}`;
        process.stderr.write(`round ${round + 1}: ${label} ... `);
        const run = { ...(await runOne(name, config)), round: round + 1 };
        runs.push(run);
        process.stderr.write(
          `${run.rps.toFixed(0)} req/s, ${run.failedTotal} failed, ${run.reloads.length} reloads\n`,
        );
      }
    }
  }
} finally {
  live.cleanUp();
}

const saved = {
  conditions: {
    command: `node bench/workers_bench.mjs ${process.argv.slice(2).join(" ")}`.trim(),
    date: startedAt.toISOString(),
    machine: `${cpus().length} × ${
      cpus()[0]?.model ?? "?"
    }, Linux; shared with other work running tests`,
    node: `${RUNTIMES.node22.exe.replace(ROOT + "/", "")} (${
      execFileSync(NODE, ["--version"]).toString().trim()
    }) for every server, the supervisor and PM2's daemon`,
    tableflip:
      "the npm package built from this checkout (scripts/build_npm.ts): the supervisor runs its esm/cli/bin.js, the apps import its esm/mod.js",
    load: values.load === "wrk"
      ? `${WRK} with one thread (lib/wrk.mjs), one process on the same 2 cores; nothing retried; 5 s request timeout`
      : "autocannon 9 (programmatic API, lib/load.mjs) in one Node process on the same 2 cores; nothing retried; 5 s request timeout",
    runs: `${DURATION} s of load each, reloads asked for at ${
      RELOADS_AT.join(", ")
    } s (or later: 300 ms after the previous reload's new workers are up; for tableflip alone, which refuses an upgrade until then, after its old process exited; \`pm2 reload\` returns only once the old instances are gone); order of the variants rotated per configuration`,
    reloads:
      "tableflip: SIGHUP to the pid in its PID file; supervisor: SIGHUP to the supervisor; cluster: SIGHUP to the primary (fork 2, wait for 'listening', disconnect the old); PM2: `pm2 reload hello` (wait_ready, listen_timeout 10000, kill_timeout 30000)",
    "load average (1 min)": `${loadAtStart.toFixed(2)} at the start, ${
      loadavg()[0].toFixed(2)
    } at the end (other work on the machine included)`,
    "open files":
      `soft ${FILES.soft}, hard ${FILES.hard} (Node raises its soft limit to the hard one)`,
    sysctl: `net.ipv4.tcp_migrate_req=${sysctl("net/ipv4/tcp_migrate_req")}, net.core.somaxconn=${
      sysctl("net/core/somaxconn")
    }`,
  },
  runs,
};
mkdirSync(values.out, { recursive: true });
writeFileSync(join(values.out, "workers.json"), JSON.stringify(saved, null, 1));
writeFileSync(join(values.out, "workers.md"), workersMarkdown(saved));
console.log(workersMarkdown(saved));

/** A sysctl's value from /proc/sys. */
function sysctl(path) {
  try {
    return readFileSync(`/proc/sys/${path}`, "utf8").trim();
  } catch {
    return "?";
  }
}
