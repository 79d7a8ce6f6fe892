#!/usr/bin/env node
// Supervisor benchmark: what `tableflip run` costs next to the generation it
// runs (CPU and RSS idle, under load, during an upgrade), and the demo
// upgraded under load through the supervisor vs. directly (SIGHUP to the pid
// in its PID file). See bench/README.md.
//
//   node bench/supervisor_bench.mjs                       # node22: ~3 min
//   node bench/supervisor_bench.mjs --runtime node22,bun,deno
//   node bench/supervisor_bench.mjs --quick               # shorter runs, 2 upgrades each
//
// Options: --runtime a,b (names from scripts/runtimes.mjs; default node22),
// --quick, --out DIR (default bench/results), --no-cost, --no-compare,
// --conns 32,1000, --modes keepalive,close, --rounds N (each case N times,
// the order of the two variants alternating: 2 gives A B B A), --render FILE (rebuild supervisor.md from a supervisor.json).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { ROOT, runtime as lookupRuntime } from "../scripts/runtimes.mjs";
import { freePort } from "../scripts/free_port.mjs";
import { startLoad } from "./lib/loadproc.mjs";
import { openWindow } from "./lib/sampler.mjs";
import { now, Service } from "./lib/service.mjs";
import { summarizeRun } from "./lib/runstats.mjs";
import { supervisorMarkdown } from "./lib/supervisor_report.mjs";
import { versionOf } from "./lib/versions.mjs";

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node22" },
    quick: { type: "boolean", default: false },
    out: { type: "string", default: join(ROOT, "bench", "results") },
    conns: { type: "string", default: "32,1000" },
    modes: { type: "string", default: "keepalive,close" },
    rounds: { type: "string", default: "1" },
    "no-cost": { type: "boolean", default: false },
    "no-compare": { type: "boolean", default: false },
    render: { type: "string" },
  },
});

const QUICK = values.quick;
/** Cost windows (s): idle, then under load (after 1 s of warm-up), then one upgrade. */
const IDLE_S = QUICK ? 2 : 4;
const LOAD_S = QUICK ? 2 : 4;
const COST_CONNS = 32;
const ROUNDS = Number(values.rounds);
/** Comparison runs: load duration (s) and when to send each SIGHUP (s after the load starts). */
const DURATION = QUICK ? 6 : 10;
const UPGRADES_AT = QUICK ? [1.5, 3.5] : [1.5, 4.5, 7.5];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A private (0700) temp directory: the supervisor refuses a control directory open to others. */
const tempDir = () => mkdtempSync(join(tmpdir(), "tableflip-supbench-"));

/** Part 1: the supervisor's CPU and RSS next to its generations, in three windows. */
async function runCost(runtimeName) {
  const dir = tempDir();
  const port = await freePort();
  const service = new Service({ via: "supervisor", runtime: runtimeName, dir, port });
  process.stderr.write(`${runtimeName} · cost ... `);
  let load;
  try {
    await service.start();
    const roles = {
      supervisor: () => [service.supervisorPid],
      generations: () => service.liveGenerations(),
    };
    await sleep(1000);
    const idleWindow = openWindow(roles);
    await sleep(IDLE_S * 1000);
    const idle = idleWindow.close();
    load = startLoad({
      kind: "http",
      port,
      path: "/version",
      connections: COST_CONNS,
      mode: "keepalive",
      duration: 1 + LOAD_S + 8,
      dir,
    });
    const t0 = await load.started;
    await sleep(Math.max(0, t0 + 1000 - now()));
    const loadWindow = openWindow(roles);
    await sleep(LOAD_S * 1000);
    const loaded = loadWindow.close();
    const upgradeWindow = openWindow(roles);
    const u = await service.upgrade();
    const upgrade = upgradeWindow.close();
    const result = await load.done;
    const stats = summarizeRun(result, [u]);
    process.stderr.write(
      `supervisor ${idle.supervisor.cpuPct.toFixed(1)}/${loaded.supervisor.cpuPct.toFixed(1)}/` +
        `${upgrade.supervisor.cpuPct.toFixed(1)} % CPU, ` +
        `${upgrade.supervisor.peakRssMb.toFixed(0)} MB; generation ` +
        `${loaded.generations.cpuPct.toFixed(0)} % under load; ${stats.failedTotal} failed\n`,
    );
    return {
      runtime: runtimeName,
      connections: COST_CONNS,
      windows: { idle, load: loaded, upgrade },
      upgrade: { readyMs: u.ready - u.hup, drainMs: u.exit - u.ready },
      requestsPerS: stats.requestsPerS,
      failed: stats.failed,
    };
  } catch (error) {
    process.stderr.write(`failed: ${error.message}\n`);
    await load?.done.catch(() => {});
    return undefined;
  } finally {
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Part 2: one load run with upgrades, through the supervisor or directly. */
async function runUpgrades({ runtimeName, via, mode, connections }) {
  const dir = tempDir();
  const port = await freePort();
  const service = new Service({ via, runtime: runtimeName, dir, port });
  const label = `${runtimeName} · ${mode} · ${connections} conns · ${via}`;
  process.stderr.write(`${label} ... `);
  const upgrades = [];
  let load;
  try {
    await service.start();
    load = startLoad({
      kind: "http",
      port,
      path: "/version",
      connections,
      mode,
      duration: DURATION,
      dir,
    });
    const t0 = await load.started;
    const usage = openWindow({
      supervisor: () => (service.supervisorPid ? [service.supervisorPid] : []),
      generations: () => service.liveGenerations(),
    });
    for (const at of UPGRADES_AT) {
      const wait = t0 + at * 1000 - now();
      if (wait > 0) await sleep(wait);
      upgrades.push(await service.upgrade());
    }
    const result = await load.done;
    const { supervisor, generations } = usage.close();
    const stats = summarizeRun(result, upgrades);
    process.stderr.write(
      `${stats.requestsPerS.toFixed(0)} req/s, ${stats.failedTotal} failed ` +
        `${JSON.stringify(stats.failed)}, CPU: load generator ${stats.loadCpuPct.toFixed(0)} %, ` +
        `generations ${generations.cpuPct.toFixed(0)} %, supervisor ${
          supervisor.cpuPct.toFixed(1)
        } %\n`,
    );
    return {
      label,
      runtime: runtimeName,
      via,
      mode,
      connections,
      ...stats,
      generationsCpuPct: generations.cpuPct,
      supervisorCpuPct: via === "supervisor" ? supervisor.cpuPct : undefined,
    };
  } catch (error) {
    process.stderr.write(`failed: ${error.message}\n`);
    await load?.done.catch(() => {});
    return undefined;
  } finally {
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- main --------------------------------------------------------------------

if (values.render) {
  const report = JSON.parse(readFileSync(values.render, "utf8"));
  writeFileSync(join(values.out, "supervisor.md"), supervisorMarkdown(report));
  process.stdout.write(supervisorMarkdown(report));
  process.exit(0);
}

const runtimes = values.runtime.split(",").map((n) => lookupRuntime(n.trim()).name);
const connsList = values.conns.split(",").map(Number);
mkdirSync(values.out, { recursive: true });
const startedAt = new Date();
const load0 = loadavg();
const versions = {};
const costs = [];
const runs = [];

for (const runtimeName of runtimes) {
  versions[runtimeName] = await versionOf(runtimeName);
  process.stderr.write(`== ${runtimeName} (${versions[runtimeName]})\n`);
  if (!values["no-cost"]) {
    const cost = await runCost(runtimeName);
    if (cost) costs.push(cost);
  }
  if (values["no-compare"]) continue;
  let pair = 0;
  for (const mode of values.modes.split(",")) {
    for (const connections of connsList) {
      let position = 0;
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate which goes first, so drift in the machine's load hits both alike.
        const order = pair++ % 2 === 0 ? ["supervisor", "direct"] : ["direct", "supervisor"];
        for (const via of order) {
          position++;
          const run = await runUpgrades({ runtimeName, via, mode, connections });
          if (run) runs.push({ ...run, order: position });
        }
      }
      if (ROUNDS % 2 === 1) continue;
      // An even number of rounds ends on the other order; start the next case on it again.
      pair++;
    }
  }
}

const cpu = cpus();
const load1 = loadavg();
const conditions = {
  command: `node bench/supervisor_bench.mjs ${process.argv.slice(2).join(" ")}`.trim(),
  date: startedAt.toISOString(),
  machine: `${cpu.length} × ${cpu[0]?.model ?? "?"}, Linux; load generator on the same cores; ` +
    `shared with other engineers' test suites running at the same time`,
  "load average (1/5/15 min) at start / end": `${load0.map((l) => l.toFixed(2)).join(" ")} / ` +
    `${load1.map((l) => l.toFixed(2)).join(" ")}`,
  "load generator": "autocannon 9 (programmatic API) in its own Node process, " +
    `${process.version}, fd limit raised to the hard limit`,
  runtimes: runtimes.map((r) => `${r} ${versions[r]}`).join("; "),
  "cost windows": `idle ${IDLE_S} s, then keep-alive load (${COST_CONNS} conns) ${LOAD_S} s ` +
    `after 1 s of warm-up, then one upgrade under that load (SIGHUP → old generation exited)`,
  "comparison runs": `${DURATION} s of load each, SIGHUP at ${UPGRADES_AT.join(", ")} s ` +
    `(or once the previous old generation has exited); the two variants of each case ` +
    `back to back, ${ROUNDS} round(s), the order alternating (order = position in the case)`,
};
const report = { conditions, versions, costs, runs };
writeFileSync(join(values.out, "supervisor.json"), JSON.stringify(report, null, 1) + "\n");
writeFileSync(join(values.out, "supervisor.md"), supervisorMarkdown(report));
process.stdout.write(supervisorMarkdown(report));
const failedTotal = runs.reduce((n, r) => n + r.failedTotal, 0);
process.stderr.write(
  `\nwrote ${join(values.out, "supervisor.md")} and supervisor.json; ` +
    `${failedTotal} failed requests in ${runs.length} comparison runs\n`,
);
process.exit(0);
