#!/usr/bin/env node
// The reconnect storm: the demo under keep-alive load on many connections
// (10,000 by default; h2load --h1, see lib/h2load.mjs), once without an
// upgrade and once with one. At the handover every connection the old
// generation holds is told `Connection: close`, each on its next response
// (the drains' default), or over --spread ms (HttpDrain's and the native
// servers' `spread`), and their clients reconnect to the new generation. Reports
// failures, latency percentiles (dated by when each request was sent) and
// how many clients were being served inside the upgrade window (SIGHUP - 1 s
// to the old process's exit + 1 s), against the same window of the run
// without an upgrade; also a p99 for every 500 ms, the load generator's CPU
// and the kernel's TCP counters. The first 3 s, while the connections are
// made, are a warm-up, left out.
//
//   node bench/storm_bench.mjs                       # node22, 10,000 connections, 14 s
//   node bench/storm_bench.mjs --runtime bun --connections 2000 --duration 8
//   node bench/storm_bench.mjs --runtime node22 --connections 1000 --spread 2000
//   DEMO_SERVER=native node bench/storm_bench.mjs --runtime bun   # Bun.serve / Deno.serve
//   node bench/storm_bench.mjs --via supervisor      # the demo under `tableflip run`
//   node bench/storm_bench.mjs --via supervisor --workers 2   # ... with 2 workers per generation
//   node bench/storm_bench.mjs --via supervisor --load rate --rps 1   # open loop: 1 request/s per client
//
// Writes bench/results/storm-<runtime>[-native][-supervisor][-workersN]-<connections>[-rpsN].json and prints a markdown table.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { ROOT } from "../scripts/runtimes.mjs";
import { freePort } from "../scripts/free_port.mjs";
import { Service } from "./lib/service.mjs";
import { quantile } from "./lib/report.mjs";
import { startH2load } from "./lib/h2load.mjs";
import { counterDelta, readTcpCounters } from "./lib/tcp_counters.mjs";
import { acceptQueueOfListener } from "../scripts/accept_queue.mjs";
import { cpuMs, groupPids, machineCpuMs } from "./lib/procs.mjs";

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node22" },
    connections: { type: "string", default: "10000" },
    duration: { type: "string", default: "14" },
    "upgrade-at": { type: "string", default: "5" },
    "warm-up": { type: "string", default: "3" },
    timeout: { type: "string", default: "10" },
    load: { type: "string", default: "h2load" },
    spread: { type: "string" },
    via: { type: "string", default: "direct" },
    workers: { type: "string", default: "1" },
    rps: { type: "string" },
  },
});
/** The demo run directly, or under the supervisor (`tableflip run`), which passes Node its accept copies from the first generation on. */
const VIA = values.via;
if (!["direct", "supervisor"].includes(VIA)) {
  console.error(`--via is direct or supervisor, not ${VIA}`);
  process.exit(2);
}
/** Under the supervisor, its --workers: each generation is that many processes. */
const WORKERS = Number(values.workers);
if (!Number.isInteger(WORKERS) || WORKERS < 1 || (WORKERS > 1 && VIA !== "supervisor")) {
  console.error(
    `--workers is a whole number >= 1, above 1 only with --via supervisor; got ${values.workers} with --via ${VIA}`,
  );
  process.exit(2);
}
/**
 * Requests per second per client of `--load rate` (bench/lib/rate_load.mjs):
 * an offered load below the servers' capacity, each client on its own
 * schedule, instead of asking again as soon as it is answered (h2load,
 * autocannon: a closed loop that keeps the machine saturated).
 */
const RPS = values.rps === undefined ? undefined : Number(values.rps);
if ((values.load === "rate") !== (RPS !== undefined) || (RPS !== undefined && !(RPS > 0))) {
  console.error(
    `--load rate takes --rps N (requests per second per client, > 0), and only it; got --load ${values.load} --rps ${values.rps}`,
  );
  process.exit(2);
}
const RUNTIME = values.runtime;
/** The demo serves with Bun.serve or Deno.serve (tableflip/native) instead of node:http. */
const NATIVE = process.env.DEMO_SERVER === "native";
if (!["h2load", "autocannon", "rate"].includes(values.load)) {
  console.error(`--load is h2load, autocannon or rate, not ${values.load}`);
  process.exit(2);
}
const CONNECTIONS = Number(values.connections);
const DURATION = Number(values.duration);
const UPGRADE_AT = Number(values["upgrade-at"]) * 1000;
/** The first seconds (all connections connecting at once) are left out of every figure. */
const WARM_UP = Number(values["warm-up"]) * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts the demo, directly or under `tableflip run` (--via); resolves with the running service. */
async function startDemo(dir) {
  const env = values.spread === undefined ? {} : { DEMO_DRAIN_SPREAD: values.spread };
  const service = new Service({
    via: VIA,
    runtime: RUNTIME,
    dir,
    port: await freePort(),
    env,
    workers: WORKERS,
  });
  await service.start();
  return service;
}

/** A load process (bench/lib/load.mjs or rate_load.mjs); resolves with its start time and, later, results. */
function startLoad(script, config) {
  const out = join(config.dir, "load.json");
  const child = spawn(
    process.execPath,
    [join(ROOT, "bench", "lib", script), JSON.stringify({ ...config, out })],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
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
  return { started, done };
}

/** One run: load for DURATION s, with one SIGHUP at UPGRADE_AT ms if `upgrade`. */
async function run(upgrade) {
  const dir = mkdtempSync(join(tmpdir(), "tableflip-storm-"));
  const demo = await startDemo(dir);
  try {
    // What every load generator is given; h2load has no timeout of its own.
    const target = {
      port: demo.port,
      path: "/version",
      connections: CONNECTIONS,
      duration: DURATION,
      dir,
    };
    const timeout = Number(values.timeout);
    const load = values.load === "h2load"
      ? startH2load(target)
      : values.load === "rate"
      ? startLoad("rate_load.mjs", { ...target, rps: RPS, timeout })
      : startLoad("load.mjs", { ...target, kind: "http", mode: "keepalive", timeout });
    const start = await load.started;
    // The kernel's TCP counters every 250 ms: did the listener drop handshakes, and when?
    const counters = [[0, readTcpCounters()]];
    // And the listener's accept queue: clients waiting to be accepted, not yet served.
    const queue = [];
    // And each generation's CPU time (and the supervisor's): which process is busy during the spike?
    const cpu = new Map();
    // And the whole machine's: is it saturated then?
    const machine = [];
    const sample = (key, t, ms) => {
      if (ms === undefined) return;
      if (!cpu.has(key)) cpu.set(key, []);
      cpu.get(key).push([t, ms]);
    };
    const sampler = setInterval(() => {
      const t = Date.now() - start;
      counters.push([t, readTcpCounters()]);
      queue.push([t, acceptQueueOfListener(demo.port) ?? 0]);
      machine.push([t, machineCpuMs()]);
      // The service runs in a process group of its own: every generation, from its start.
      for (const pid of groupPids(demo.child.pid)) {
        sample(pid === demo.supervisorPid ? `supervisor ${pid}` : `pid ${pid}`, t, cpuMs(pid));
      }
      // This process too (it samples all of this).
      const own = process.cpuUsage();
      sample("the bench itself", t, (own.user + own.system) / 1000);
    }, 250);
    let window;
    if (upgrade) {
      await sleep(Math.max(0, start + UPGRADE_AT - Date.now()));
      const { hup, ready, exit } = await demo.upgrade();
      window = { from: hup - start - 1000, to: exit - start + 1000, hup, ready, exit };
    }
    const result = await load.done;
    clearInterval(sampler);
    counters.push([Date.now() - start, readTcpCounters()]);
    return { result, window, counters, queue, cpu, machine };
  } finally {
    await demo.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether time `t` (ms since the load started) is past the warm-up and in (or out of) [from, to). */
const counted = (t, from, to, inside) => t >= WARM_UP && (t >= from && t < to) === inside;

/**
 * Latency percentiles of the requests sent in [from, to) ms (or outside it).
 * Dated by when they were sent, not answered: a request sent in the warm-up
 * and answered seconds later, in the window, belongs to the warm-up.
 */
function percentiles({ resT, resLat }, from, to, inside = true) {
  const lat = [];
  for (let i = 0; i < resT.length; i++) {
    if (counted(resT[i] - resLat[i], from, to, inside)) lat.push(resLat[i]);
  }
  lat.sort((a, b) => a - b);
  const mean = lat.reduce((a, b) => a + b, 0) / lat.length;
  return { n: lat.length, mean, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) };
}

/** Failures by kind whose time falls in [from, to) ms (or outside it). */
function failures({ failures: all }, from, to, inside = true) {
  const byKind = {};
  for (const [t, kind] of all) {
    if (counted(sentAt(t, kind), from, to, inside)) byKind[kind] = (byKind[kind] ?? 0) + 1;
  }
  return byKind;
}

/** A timeout is reported `timeout` s after its request was sent: count it then. */
function sentAt(t, kind) {
  return kind === "timeout" ? t - Number(values.timeout) * 1000 : t;
}

/** The TCP counters' increase over [from, to) ms (or outside it, after the warm-up). */
function countersIn(series, from, to, inside = true) {
  const at = (t) => series.reduce((best, s) => (s[0] <= t ? s : best), series[0])[1];
  const end = series[series.length - 1][0];
  if (inside) return counterDelta(at(from), at(to));
  const before = counterDelta(at(WARM_UP), at(from));
  const after = counterDelta(at(to), at(end));
  return Object.fromEntries(Object.keys(before).map((k) => [k, before[k] + after[k]]));
}

/** The load generator's CPU over [from, to) ms, as % of one core. */
function loadCpu(series, from, to) {
  const inside = series.filter(([t]) => t >= from && t < to);
  if (inside.length < 2) return NaN;
  const [t0, c0] = inside[0];
  const [t1, c1] = inside[inside.length - 1];
  return (100 * (c1 - c0)) / (t1 - t0);
}

/** How many of the requests sent in [from, to) took how long. */
const BUCKETS = [100, 300, 1000, 2000, 4000, 8000, Infinity];
function histogram({ resT, resLat }, from, to) {
  const counts = BUCKETS.map(() => 0);
  for (let i = 0; i < resT.length; i++) {
    if (!counted(resT[i] - resLat[i], from, to, true)) continue;
    counts[BUCKETS.findIndex((b) => resLat[i] < b)]++;
  }
  return Object.fromEntries(BUCKETS.map((b, i) => [`<${b}`, counts[i]]));
}

/** `f(t)` for the start `t` (ms) of each 500 ms from the warm-up's end to the run's. */
function perBin(f) {
  const bins = [];
  for (let t = WARM_UP; t < DURATION * 1000; t += 500) bins.push(f(t));
  return bins;
}

/** p99 (ms) of the requests sent in each 500 ms from the warm-up's end: where the spike is. */
function timeline(result) {
  return perBin((t) => Math.round(percentiles(result, t, t + 500).p99 || 0));
}

/** How many of the requests sent in each 500 ms from the warm-up's end were answered (thousands). */
function sentTimeline({ resT, resLat }) {
  const counts = perBin(() => 0);
  for (let i = 0; i < resT.length; i++) {
    const bin = Math.floor((resT[i] - resLat[i] - WARM_UP) / 500);
    if (bin >= 0 && bin < counts.length) counts[bin]++;
  }
  return counts.map((n) => (n / 1000).toFixed(1));
}

/** The largest accept queue sampled in each 500 ms from the warm-up's end. */
function queueTimeline(queue) {
  return perBin((t) =>
    Math.max(0, ...queue.filter(([at]) => at >= t && at < t + 500).map(([, q]) => q))
  );
}

/**
 * The samples `[t, value]` of a cumulative series that span the 500 ms from
 * `t`: the last at or before `t` and the last inside; undefined unless both
 * exist, in that order.
 */
function spanAt(series, t) {
  const first = series.findLast(([at]) => at <= t);
  const last = series.findLast(([at]) => at < t + 500);
  return first && last && last[0] > first[0] ? [first, last] : undefined;
}

/**
 * The CPU (% of one core) of each named series of CPU time (ms) in each 500 ms
 * from the warm-up's end; "-" where it was not running.
 */
function cpuTimeline(cpu) {
  return [...cpu].map(([name, series]) => ({
    name,
    bins: perBin((t) => {
      const span = spanAt(series, t);
      if (!span) return "-";
      const [[t0, c0], [t1, c1]] = span;
      return String(Math.round((100 * (c1 - c0)) / (t1 - t0)));
    }),
  }));
}

/** The machine's busy share (% of all its cores) in each 500 ms from the warm-up's end. */
function machineTimeline(machine) {
  return perBin((t) => {
    const span = spanAt(machine, t);
    if (!span) return "-";
    const [[, a], [, b]] = span;
    return b.total > a.total
      ? String(Math.round((100 * (b.busy - a.busy)) / (b.total - a.total)))
      : "-";
  });
}

/**
 * How many clients had a request in service, on average, over [from, to):
 * requests per ms times the mean latency (Little's law). Fewer than the
 * connections asked for means the others were not being served: connections
 * waiting in an accept queue, or SYNs dropped and retried.
 */
const served = ({ n, mean }, from, to) => Math.round((n / (to - from)) * mean);

const fmt = (x) => (x >= 100 ? Math.round(x) : Math.round(x * 10) / 10);
const steady = await run(false);
const upgraded = await run(true);
const { from, to } = upgraded.window;
const rows = [
  ["without upgrade", steady],
  ["with one upgrade", upgraded],
].map(([label, { result, counters, queue, cpu, machine }]) => {
  const win = {
    ...percentiles(result, from, to),
    failed: failures(result, from, to),
    tcp: countersIn(counters, from, to),
    loadCpu: loadCpu(result.cpuSeries, from, to),
    latencies: histogram(result, from, to),
  };
  const out = {
    ...percentiles(result, from, to, false),
    failed: failures(result, from, to, false),
    tcp: countersIn(counters, from, to, false),
  };
  const inWarmUp = result.failures.filter(([t, kind]) => sentAt(t, kind) < WARM_UP).length;
  const undated = { ...result.undated };
  if (result.hung) undated["h2load processes stopped after their duration"] = result.hung;
  return {
    label,
    requests: result.resT.length,
    win,
    out,
    inWarmUp,
    undated,
    timeline: timeline(result),
    sent: sentTimeline(result),
    queue: queueTimeline(queue),
    cpu: cpuTimeline(new Map([...cpu, ["the load generator", result.cpuSeries]])),
    machine: machineTimeline(machine),
  };
});
const lines = [
  `runtime ${RUNTIME}${
    VIA === "supervisor" ? ` under tableflip run${WORKERS > 1 ? ` --workers ${WORKERS}` : ""}` : ""
  }, ${CONNECTIONS} keep-alive connections from ${values.load}${
    RPS === undefined ? "" : ` at ${RPS} requests/s each`
  }, drain spread ${values.spread ?? "default"} ms, ${DURATION} s, window ${fmt(from / 1000)}-${
    fmt(to / 1000)
  } s (SIGHUP at ${UPGRADE_AT / 1000} s; new generation ready after ${
    Math.round(upgraded.window.ready - upgraded.window.hup)
  } ms, old one gone after ${Math.round(upgraded.window.exit - upgraded.window.hup)} ms)`,
  "",
  "| run | requests | clients served in the window | failed in the window | p50 / p99 in the window (ms) | failed outside it | p50 / p99 outside it (ms) | failed in the warm-up |",
  "| --- | -------: | ---: | ------ | ---------------------------: | ------ | ------------------------: | ---: |",
  ...rows.map((r) =>
    `| ${r.label} | ${r.requests} | ${served(r.win, from, to)} | ${
      JSON.stringify(r.win.failed)
    } | ${fmt(r.win.p50)} / ${fmt(r.win.p99)} | ${JSON.stringify(r.out.failed)} | ${
      fmt(r.out.p50)
    } / ${fmt(r.out.p99)} | ${r.inWarmUp} |`
  ),
  "",
  `Failed requests h2load counts but cannot date (not in the table): ${
    rows.map((r) => `${r.label} ${JSON.stringify(r.undated)}`).join(", ")
  }`,
  "",
  "p99 (ms) of the requests sent in each 500 ms after the warm-up:",
  "",
  ...rows.map((r) => `- ${r.label}: ${r.timeline.join(" ")}`),
  "",
  "Requests sent in each 500 ms (thousands, those answered):",
  "",
  ...rows.map((r) => `- ${r.label}: ${r.sent.join(" ")}`),
  "",
  "The listener's accept queue (connections waiting to be accepted), largest of each 500 ms:",
  "",
  ...rows.map((r) => `- ${r.label}: ${r.queue.join(" ")}`),
  "",
  "CPU of each generation, the supervisor, this bench and the load generator (% of one core; 2 cores here) in each 500 ms:",
  "",
  ...rows.flatMap((r) => r.cpu.map((c) => `- ${r.label}, ${c.name}: ${c.bins.join(" ")}`)),
  "",
  "The machine's busy time (% of all its cores, steal included) in each 500 ms:",
  "",
  ...rows.map((r) => `- ${r.label}: ${r.machine.join(" ")}`),
  "",
  "In the window: the load generator's CPU, responses by latency (ms), and the kernel's TCP counters",
  "(this network namespace, so other traffic on the machine counts too):",
  "",
  ...rows.map((r) =>
    `- ${r.label}: load generator ${fmt(r.win.loadCpu)} % of a core; latencies ${
      JSON.stringify(r.win.latencies)
    }; tcp ${JSON.stringify(r.win.tcp)}`
  ),
];
console.log(lines.join("\n"));
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(
  join(
    ROOT,
    "bench",
    "results",
    `storm-${RUNTIME}${NATIVE ? "-native" : ""}${VIA === "supervisor" ? "-supervisor" : ""}${
      WORKERS > 1 ? `-workers${WORKERS}` : ""
    }-${CONNECTIONS}${RPS === undefined ? "" : `-rps${RPS}`}.json`,
  ),
  JSON.stringify({
    runtime: RUNTIME,
    via: VIA,
    workers: WORKERS,
    connections: CONNECTIONS,
    load: values.load,
    rps: RPS ?? null,
    server: NATIVE ? "native" : "node:http",
    spread: values.spread === undefined ? "default" : Number(values.spread),
    window: upgraded.window,
    rows,
  }),
);
