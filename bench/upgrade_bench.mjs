#!/usr/bin/env node
// Zero-downtime benchmark: drives the demo (examples/demo.ts) and a raw-TCP
// echo server on each runtime under load, upgrades them several times with
// SIGHUP, and reports failed requests, latency, upgrade timings, memory and
// the cost of serving through an inherited socket. See bench/README.md.
//
//   node bench/upgrade_bench.mjs                       # node20, bun, deno; ~3 min each
//   node bench/upgrade_bench.mjs --runtime node20 --quick
//
// Options: --runtime a,b (names from scripts/runtimes.mjs), --quick (shorter
// runs, 2 upgrades each), --out DIR (default bench/results), --only SUBSTRING
// (run only scenarios whose label contains it), --no-naive, --no-ratio,
// --render FILE (rebuild results.md and the charts from a results.json).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { commandFor, ROOT, runtime as lookupRuntime } from "../scripts/runtimes.mjs";
import { addDescendants, alive, rss } from "./lib/procs.mjs";
import { startLoad } from "./lib/loadproc.mjs";
import { markdown, median, quantile, svgChart } from "./lib/report.mjs";
import { versionOf } from "./lib/versions.mjs";
import { freePort } from "../scripts/free_port.mjs";

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node20,bun,deno" },
    quick: { type: "boolean", default: false },
    out: { type: "string", default: join(ROOT, "bench", "results") },
    only: { type: "string" },
    "no-naive": { type: "boolean", default: false },
    "no-ratio": { type: "boolean", default: false },
    render: { type: "string" },
  },
});

const QUICK = values.quick;
/** Load duration (s) and when to send each SIGHUP (s after the load starts). */
const DURATION = QUICK ? 8 : 16;
const UPGRADES_AT = QUICK ? [2, 5] : [3, 7.5, 12];
/** Direct/inherited throughput comparison: alternating bursts of this many seconds, rounds. */
const RATIO_BURST = 2;
const RATIO_ROUNDS = QUICK ? 2 : 4;
/** The demo sleeps this long before it listens (by design, to show the overlap). */
const DEMO_DELAY_MS = 1000;
const WAIT_LIMIT = 60_000;

const SERVERS = {
  demo: {
    file: join(ROOT, "examples", "demo.ts"),
    kind: "http",
    path: "/version",
    env: (addr, pidFile) => ({ DEMO_ADDR: addr, DEMO_PID_FILE: pidFile }),
    appDelayMs: DEMO_DELAY_MS,
    // The demo logs every request; nobody reads it here.
    stdout: "ignore",
  },
  echo: {
    file: join(ROOT, "bench", "servers", "echo_server.ts"),
    kind: "tcp",
    env: (addr, pidFile) => ({ BENCH_ADDR: addr, BENCH_PID_FILE: pidFile }),
    appDelayMs: 0,
    stdout: "pipe",
  },
  "naive-drain": {
    file: join(ROOT, "bench", "servers", "naive_http.ts"),
    kind: "http",
    path: "/",
    env: (addr, pidFile) => ({ BENCH_ADDR: addr, BENCH_PID_FILE: pidFile }),
    appDelayMs: 0,
    stdout: "ignore",
  },
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// Wall-clock ms, comparable with Date.now() in other processes and file mtimes, but
// monotonic within this run (performance.timeOrigin can be off from Date.now() by ms).
const EPOCH0 = Date.now();
const PERF0 = performance.now();
const now = () => EPOCH0 + (performance.now() - PERF0);

/** Polls `check` every `every` ms until it returns a value other than undefined. */
async function until(check, what, limit = WAIT_LIMIT, every = 5) {
  const end = Date.now() + limit;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${limit} ms waiting for ${what}`);
    await sleep(every);
  }
}

function readPid(pidFile) {
  try {
    return Number(readFileSync(pidFile, "utf8").trim()) || undefined;
  } catch {
    return undefined;
  }
}

/** Servers still running, so an interrupted run does not leave them behind. */
const running = new Set();
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    for (const tree of running) tree.kill();
    process.exit(130);
  });
}

/** A server under test: its first generation, every pid it had, its stdout lines. */
class ServerTree {
  constructor(runtimeName, server, dir) {
    this.server = server;
    this.pidFile = join(dir, "app.pid");
    this.pids = new Set();
    this.lines = [];
    this.stderr = "";
    this.peakRss = 0;
    this.runtimeName = runtimeName;
  }

  async start(port) {
    const argv = commandFor(this.runtimeName, this.server.file);
    this.child = spawn(argv[0], argv.slice(1), {
      cwd: ROOT,
      env: { ...process.env, ...this.server.env(`127.0.0.1:${port}`, this.pidFile) },
      stdio: ["ignore", this.server.stdout, "pipe"],
    });
    this.pids.add(this.child.pid);
    running.add(this);
    this.child.stderr.on("data", (d) => this.stderr = (this.stderr + d).slice(-4000));
    if (this.child.stdout) {
      createInterface({ input: this.child.stdout }).on("line", (text) => {
        try {
          this.lines.push(JSON.parse(text));
        } catch { /* not ours */ }
      });
    }
    this.exited = new Promise((resolve) => this.child.once("exit", resolve));
    await until(
      () => (readPid(this.pidFile) === this.child.pid ? true : undefined),
      `${this.server.file} on ${this.runtimeName} to become ready (stderr: ${this.stderr})`,
      WAIT_LIMIT,
      20,
    );
    this.sampler = setInterval(() => this.sample(), 50);
  }

  sample() {
    addDescendants(this.pids);
    let total = 0;
    for (const pid of this.pids) if (alive(pid)) total += rss(pid);
    this.peakRss = Math.max(this.peakRss, total);
  }

  /** SIGHUP to the pid in the PID file; resolves with the upgrade's timestamps. */
  async upgrade() {
    const old = readPid(this.pidFile);
    // A process refuses to upgrade (ERR_PARENT_ALIVE) until it has seen its own parent
    // exit, a few ms after the exit itself: the echo server reports it, for the others
    // allow 200 ms and, should SIGHUP still be refused, send it again.
    if (this.server.stdout === "pipe" && old !== this.child.pid) {
      await until(
        () => this.lines.some((l) => l.pid === old && l.event === "parent-gone") || undefined,
        `${old} to see its parent exit`,
      );
    } else if (old !== this.child.pid) await sleep(200);
    let hup = now();
    process.kill(old, "SIGHUP");
    const next = await until(() => {
      const pid = readPid(this.pidFile);
      if (pid && pid !== old) return pid;
      if (now() - hup > 10_000 && this.server.stdout !== "pipe") {
        hup = now();
        process.kill(old, "SIGHUP");
      }
      return undefined;
    }, `a new generation after SIGHUP to ${old} (stderr: ${this.stderr})`);
    // The PID file is written just before the child signals ready: its mtime is when.
    const ready = statSync(this.pidFile).mtimeMs;
    this.pids.add(next);
    await until(() => (alive(old) ? undefined : true), `old process ${old} to exit`);
    const exit = now();
    const main = this.lines.find((l) => l.pid === next && l.event === "main")?.t;
    return { old, next, hup, ready, exit, main };
  }

  kill() {
    clearInterval(this.sampler);
    for (const pid of addDescendants(this.pids)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    running.delete(this);
  }

  async stop() {
    this.kill();
    await this.exited;
  }
}

/** Spawns the startup probe a few times; the median ms from spawn to its first line of code. */
async function runtimeStartup(name) {
  const samples = [];
  for (let i = 0; i < 3; i++) {
    const argv = commandFor(name, join(ROOT, "bench", "servers", "startup_probe.ts"));
    const t0 = now();
    const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => out += d);
    await new Promise((resolve) => child.once("exit", resolve));
    samples.push(Number(out.trim()) - t0);
  }
  return median(samples);
}

/** One load run with upgrades: the core of the benchmark. */
async function runScenario({ runtimeName, serverName, mode, connections, startupMs }) {
  const server = SERVERS[serverName];
  const dir = mkdtempSync(join(tmpdir(), "tableflip-bench-"));
  const tree = new ServerTree(runtimeName, server, dir);
  const port = await freePort();
  const label = `${runtimeName} · ${serverName} · ${mode} · ${connections} conns`;
  process.stderr.write(`${label} ... `);
  const upgrades = [];
  let load;
  try {
    await tree.start(port);
    const generator = startLoad({
      kind: server.kind,
      port,
      path: server.path,
      connections,
      mode,
      duration: DURATION,
      dir,
    });
    load = generator;
    const t0 = await generator.started;
    for (const at of UPGRADES_AT) {
      const wait = t0 + at * 1000 - now();
      if (wait > 0) await sleep(wait);
      upgrades.push(await tree.upgrade());
    }
    const result = await generator.done;
    return summarize({
      label,
      runtimeName,
      serverName,
      mode,
      connections,
      startupMs,
      appDelayMs: server.appDelayMs,
      result,
      upgrades,
      peakRss: tree.peakRss,
    });
  } catch (error) {
    process.stderr.write(`failed: ${error.message}\n`);
    await load?.done.catch(() => {});
    return undefined;
  } finally {
    await tree.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function summarize(
  {
    label,
    runtimeName,
    serverName,
    mode,
    connections,
    startupMs,
    appDelayMs,
    result,
    upgrades,
    peakRss,
  },
) {
  const { start, end, resT, resLat, failures } = result;
  const rel = (t) => (t - start) / 1000;
  const windows = upgrades.map((u) => [rel(u.hup) - 1, rel(u.exit) + 1]);
  const inWindow = (s) => windows.some(([a, b]) => s >= a && s <= b);
  const steady = [];
  const around = [];
  for (let i = 0; i < resT.length; i++) {
    const s = resT[i] / 1000;
    if (inWindow(s)) around.push(resLat[i]);
    else if (s >= 1) steady.push(resLat[i]);
  }
  steady.sort((a, b) => a - b);
  around.sort((a, b) => a - b);
  const failed = {};
  for (const [, kind] of failures) failed[kind] = (failed[kind] ?? 0) + 1;
  // Whole seconds only: a last partial second would look like a drop in throughput.
  const seconds = Math.max(1, Math.floor((end - start) / 1000));
  const series = Array.from({ length: seconds }, () => ({ ok: 0, failed: 0 }));
  for (const t of resT) if (t < seconds * 1000) series[Math.floor(t / 1000)].ok++;
  for (const [t] of failures) series[Math.min(seconds - 1, Math.floor(t / 1000))].failed++;
  const readyMs = median(upgrades.map((u) => u.ready - u.hup));
  const summary = {
    label,
    runtime: runtimeName,
    server: serverName,
    mode,
    connections,
    requests: resT.length,
    failed,
    steady: { p50: quantile(steady, 0.5), p99: quantile(steady, 0.99), n: steady.length },
    around: { p50: quantile(around, 0.5), p99: quantile(around, 0.99), n: around.length },
    readyMs,
    runtimeStartMs: startupMs,
    appDelayMs,
    // Measured inside the echo server: SIGHUP -> its first line of code -> ready.
    toMainMs: median(upgrades.filter((u) => u.main).map((u) => u.main - u.hup)),
    drainMs: median(upgrades.map((u) => u.exit - u.ready)),
    peakRssMb: peakRss / 2 ** 20,
    upgrades: upgrades.map((u) => ({
      hup: rel(u.hup),
      ready: rel(u.ready),
      exit: rel(u.exit),
      readyMs: u.ready - u.hup,
      drainMs: u.exit - u.ready,
    })),
    series,
  };
  const total = Object.values(failed).reduce((a, b) => a + b, 0);
  process.stderr.write(
    `${summary.requests} ok, ${total} failed ${JSON.stringify(failed)}, ready ${
      readyMs.toFixed(0)
    } ms, drain ${summary.drainMs.toFixed(0)} ms\n`,
  );
  return summary;
}

/**
 * Throughput through a directly bound socket vs. an inherited one: two
 * instances of the same server, one upgraded once (serving through the socket
 * it inherited), loaded in turn in short alternating bursts so that drift in
 * the machine's background load hits both alike. The first round is warm-up.
 */
async function runRatio({ runtimeName, serverName, connections }) {
  const server = SERVERS[serverName];
  const dir = mkdtempSync(join(tmpdir(), "tableflip-bench-"));
  const direct = new ServerTree(runtimeName, server, mkdtempSync(join(dir, "d-")));
  const inherited = new ServerTree(runtimeName, server, mkdtempSync(join(dir, "i-")));
  process.stderr.write(`${runtimeName} · ${serverName} · ratio (direct vs inherited) ... `);
  const burst = async (port) => {
    const { done } = startLoad({
      kind: server.kind,
      port,
      path: server.path,
      connections,
      mode: "keepalive",
      duration: RATIO_BURST,
      dir,
    });
    const { start, end, resT } = await done;
    // The first 500 ms of a burst (connecting, ramping up) is not counted.
    return { n: resT.filter((t) => t >= 500).length, s: (end - start) / 1000 - 0.5 };
  };
  try {
    const [directPort, inheritedPort] = [await freePort(), await freePort()];
    await direct.start(directPort);
    await inherited.start(inheritedPort);
    await inherited.upgrade();
    const sums = { direct: { n: 0, s: 0 }, inherited: { n: 0, s: 0 } };
    for (let round = 0; round <= RATIO_ROUNDS; round++) {
      const a = await burst(directPort);
      const b = await burst(inheritedPort);
      if (round === 0) continue;
      for (const [key, r] of [["direct", a], ["inherited", b]]) {
        sums[key].n += r.n;
        sums[key].s += r.s;
      }
    }
    const rate = (x) => x.n / x.s;
    process.stderr.write(
      `${rate(sums.direct).toFixed(0)} vs ${rate(sums.inherited).toFixed(0)} req/s\n`,
    );
    return {
      runtime: runtimeName,
      server: serverName,
      connections,
      direct: rate(sums.direct),
      inherited: rate(sums.inherited),
    };
  } catch (error) {
    process.stderr.write(`failed: ${error.message}\n`);
    return undefined;
  } finally {
    await direct.stop();
    await inherited.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- main --------------------------------------------------------------------

const chartTitle = (name, version) => `tableflip upgrades under load: ${name} (${version})`;

if (values.render) {
  // Rebuild the Markdown and the charts from a results.json, without running anything.
  const report = JSON.parse(readFileSync(values.render, "utf8"));
  for (const name of new Set(report.scenarios.map((s) => s.runtime))) {
    const version = report.versions?.[name] ??
      new RegExp(`${name} (.*?) \\(\\.ts`).exec(report.conditions.runtimes)?.[1]
        ?.replace(/\s*\(.*$/, "");
    writeFileSync(
      join(values.out, `${name}.svg`),
      svgChart(chartTitle(name, version), report.scenarios.filter((s) => s.runtime === name)),
    );
  }
  writeFileSync(join(values.out, "results.md"), markdown(report));
  process.stdout.write(markdown(report));
  process.exit(0);
}

const runtimes = values.runtime.split(",").map((n) => lookupRuntime(n.trim()).name);
mkdirSync(values.out, { recursive: true });
const startedAt = new Date();
const scenarios = [];
const ratios = [];
const versions = {};
const startups = {};

for (const runtimeName of runtimes) {
  versions[runtimeName] = await versionOf(runtimeName);
  const startupMs = await runtimeStartup(runtimeName);
  startups[runtimeName] = startupMs;
  process.stderr.write(
    `== ${runtimeName} (${versions[runtimeName]}): .ts start-up ${startupMs.toFixed(0)} ms\n`,
  );
  const plan = [];
  for (const serverName of ["demo", "echo"]) {
    for (const mode of ["close", "keepalive"]) {
      for (const connections of [32, 128]) plan.push({ serverName, mode, connections });
    }
  }
  if (!values["no-naive"]) {
    plan.push({ serverName: "naive-drain", mode: "keepalive", connections: 32 });
  }
  const mine = [];
  for (const step of plan) {
    const label = `${runtimeName} · ${step.serverName} · ${step.mode} · ${step.connections} conns`;
    if (values.only && !label.includes(values.only)) continue;
    const summary = await runScenario({ runtimeName, startupMs, ...step });
    if (summary) {
      scenarios.push(summary);
      mine.push(summary);
    }
  }
  if (!values["no-ratio"]) {
    for (const serverName of ["demo", "echo"]) {
      const label = `${runtimeName} · ${serverName} · ratio`;
      if (values.only && !label.includes(values.only)) continue;
      const ratio = await runRatio({ runtimeName, serverName, connections: 32 });
      if (ratio) ratios.push(ratio);
    }
  }
  if (mine.length) {
    writeFileSync(
      join(values.out, `${runtimeName}.svg`),
      svgChart(chartTitle(runtimeName, versions[runtimeName]), mine),
    );
  }
}

const cpu = cpus();
const conditions = {
  command: `node bench/upgrade_bench.mjs ${process.argv.slice(2).join(" ")}`.trim(),
  date: startedAt.toISOString(),
  machine: `${cpu.length} × ${cpu[0]?.model ?? "?"}, Linux; load generator on the same machine`,
  "load generator": "autocannon 9 (HTTP, programmatic API) and a line-echo client (TCP), " +
    "in their own Node process",
  "orchestrator node": process.version,
  runtimes: runtimes.map((r) => `${r} ${versions[r]} (.ts start-up ${startups[r].toFixed(0)} ms)`)
    .join("; "),
  runs: `${DURATION} s of load each, SIGHUP at ${UPGRADES_AT.join(", ")} s (or once the previous ` +
    `old process has exited); close = a new connection per request (Connection: close), ` +
    `keepalive = persistent connections`,
};
const report = { conditions, versions, scenarios, ratios };
writeFileSync(join(values.out, "results.json"), JSON.stringify(report, null, 1) + "\n");
writeFileSync(join(values.out, "results.md"), markdown(report));
process.stdout.write(markdown(report));
const failedTotal = scenarios
  .filter((s) => s.server !== "naive-drain")
  .reduce((n, s) => n + Object.values(s.failed).reduce((a, b) => a + b, 0), 0);
process.stderr.write(
  `\nwrote ${join(values.out, "results.md")}, results.json and one SVG per runtime; ` +
    `${failedTotal} failed requests outside the naive-drain runs\n`,
);
process.exit(0);
