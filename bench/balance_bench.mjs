#!/usr/bin/env node
// How the kernel spreads connections over 2 workers, and what a worker that
// exits under load strands, for the two ways N processes can share a port:
//   shared     one listening socket, its accept queue shared by every worker
//              (what `tableflip run --workers 2` does; servers/hello_tableflip.mjs)
//   reuseport  one SO_REUSEPORT socket per worker, each with its own queue
//              (two servers/hello_reuseport.mjs processes)
// Same handler (servers/hello.mjs) and the same drain (HttpDrain) in both, on
// Node 22. Balance: requests per worker pid under load. Exit: the workers are
// replaced one at a time under load (a new one ready, then the oldest drained
// and gone), 4 times; failed requests counted by the client. The exit
// runs are repeated inside a network namespace of their own with
// net.ipv4.tcp_migrate_req=1 (`unshare --net`, needs root), which lets the
// kernel move a closing reuseport socket's queued connections to another one.
//
//   node bench/balance_bench.mjs            # about 4 min
//   node bench/balance_bench.mjs --quick    # about 2 min
//   node bench/balance_bench.mjs --no-netns # skip the tcp_migrate_req=1 runs
//
// Writes bench/results/balance.md and balance.json (--out DIR).
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { freePort } from "../scripts/free_port.mjs";
import { ROOT, RUNTIMES } from "../scripts/runtimes.mjs";
import { Live } from "./lib/live.mjs";
import { startLoad } from "./lib/loadproc.mjs";
import { failedCell } from "./lib/report.mjs";
import { liveWorkers, sleep, spawnGroup, until, workerCounts } from "./lib/variants.mjs";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    out: { type: "string", default: join(ROOT, "bench", "results") },
    "no-netns": { type: "boolean", default: false },
    // Internal: only the exit runs, results as JSON on stdout (run inside the namespace).
    "exit-only-json": { type: "boolean", default: false },
  },
});
const NODE = RUNTIMES.node22.exe;
const BALANCE_S = values.quick ? 3 : 5;
const EXIT_S = 6;
/** Worker replacements in the exit runs: EXITS of them, from EXIT_AT_MS, EXIT_EVERY_MS apart. */
const EXIT_AT_MS = 1000;
const EXIT_EVERY_MS = 1000;
const EXITS = 4;
const REPEATS = values.quick ? 1 : 2;

/** Process groups and temp dirs to clean up on Ctrl-C. */
const live = new Live();
live.exitOnSignals();

/** Spawns a process group (its stdout lines kept), remembered for clean-up. */
function spawnLiveGroup(argv, env) {
  const child = spawnGroup(argv, env, { lines: true });
  live.groups.add(child.pid);
  return child;
}

/** Starts the two workers of `design` on `port`; resolves with their process groups. */
async function startDesign(design, port, statsDir, busyMs) {
  if (design === "shared") {
    const child = spawnLiveGroup([
      NODE,
      join(ROOT, "cli", "bin.ts"),
      "run",
      "--workers",
      "2",
      "--rolling",
      "--listen",
      `tcp:127.0.0.1:${port}`,
      "--no-control",
      "--",
      NODE,
      join(ROOT, "bench", "servers", "hello_tableflip.mjs"),
    ], { BENCH_STATS_DIR: statsDir, BENCH_BUSY_MS: String(busyMs) });
    await until(
      () => (child.stderrTail.match(/is ready and serving/g) ?? []).length >= 2 || undefined,
      `the supervisor's 2 workers (stderr: ${child.stderrTail})`,
    );
    return [child];
  }
  return await Promise.all([0, 1].map(() => startReuseport(port, statsDir, busyMs)));
}

/** One reuseport worker; resolves once it listens. */
async function startReuseport(port, statsDir, busyMs) {
  const child = spawnLiveGroup([NODE, join(ROOT, "bench", "servers", "hello_reuseport.mjs")], {
    BENCH_ADDR: `127.0.0.1:${port}`,
    BENCH_STATS_DIR: statsDir,
    BENCH_BUSY_MS: String(busyMs),
  });
  await until(
    () => child.lines.includes("listening") || undefined,
    `a reuseport worker (stderr: ${child.stderrTail})`,
  );
  return child;
}

/**
 * Replaces the workers one at a time, 4 times in all: a new worker ready, then
 * the oldest drained and gone. shared: SIGHUP to `tableflip run --rolling`
 * (2 replacements each); reuseport: start a new process, SIGTERM the oldest.
 * Resolves with each replaced worker's drain time (ms).
 */
async function replaceWorkers(design, groups, port, statsDir, start, busyMs) {
  const drains = [];
  const gone = (pid) => until(() => liveWorkers(statsDir).includes(pid) ? undefined : true, "exit");
  for (let i = 0; i < EXITS; i++) {
    await sleep(Math.max(0, start + EXIT_AT_MS + i * EXIT_EVERY_MS - Date.now()));
    if (design === "shared") {
      if (i % 2) continue; // one SIGHUP replaces both workers
      const old = liveWorkers(statsDir);
      const t = Date.now();
      process.kill(groups[0].pid, "SIGHUP");
      for (const pid of old) await gone(pid);
      drains.push(Date.now() - t);
    } else {
      const oldest = groups.shift();
      const next = await startReuseport(port, statsDir, busyMs);
      groups.push(next);
      const t = Date.now();
      process.kill(oldest.pid, "SIGTERM");
      await gone(oldest.pid);
      drains.push(Date.now() - t);
    }
  }
  return drains;
}

/**
 * One run: `design` under `mode`/`connections` load for `seconds`; with
 * `exit`, the workers replaced under load (replaceWorkers).
 */
async function run(design, mode, connections, seconds, exit, busyMs = 0) {
  const run = live.startRun("tableflip-balance-");
  const { dir, statsDir } = run;
  const port = await freePort();
  const groups = await startDesign(design, port, statsDir, busyMs);
  try {
    await sleep(300);
    const workers = liveWorkers(statsDir).sort((a, b) => a - b);
    const load = startLoad({
      kind: "http",
      port,
      path: "/",
      connections,
      mode,
      duration: seconds,
      timeout: 5,
      dir,
    }, NODE);
    live.children.add(load.child);
    const start = await load.started;
    const exited = exit
      ? { drainsMs: await replaceWorkers(design, groups, port, statsDir, start, busyMs) }
      : undefined;
    const result = await load.done;
    live.children.delete(load.child);
    await sleep(250);
    const counts = workerCounts(statsDir);
    const failed = {};
    for (const [, kind] of result.failures) failed[kind] = (failed[kind] ?? 0) + 1;
    const split = workers.map((pid) => counts.get(pid) ?? 0);
    const total = split.reduce((a, b) => a + b, 0);
    return {
      design,
      mode,
      connections,
      seconds,
      exit: exited,
      requests: result.resT.length,
      failed,
      failedTotal: result.failures.length,
      // The first two workers' shares (a restarted worker, if any, is not counted here).
      split: split.map((n) => (total ? n / total : 0)),
      counts: Object.fromEntries(counts),
    };
  } finally {
    for (const child of groups) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch { /* gone */ }
      live.groups.delete(child.pid);
    }
    live.endRun(run);
  }
}

/** [mode, connections, busy ms when told to go]. */
const EXIT_CASES = [["close", 1000, 0], ["close", 1000, 100], ["keepalive", 1000, 0]];

/** The exit runs, both designs alternating, REPEATS times each. */
async function exitRuns(tag) {
  const rows = [];
  for (let i = 0; i < REPEATS; i++) {
    for (const [mode, connections, busyMs] of EXIT_CASES) {
      const designs = i % 2 ? ["reuseport", "shared"] : ["shared", "reuseport"];
      for (const design of designs) {
        const row = {
          ...(await run(design, mode, connections, EXIT_S, true, busyMs)),
          netns: tag,
          busyMs,
        };
        process.stderr.write(
          `exit ${tag} · ${design} · ${mode} · ${connections} · busy ${busyMs}: ${row.failedTotal} failed\n`,
        );
        rows.push(row);
      }
    }
  }
  return rows;
}

if (values["exit-only-json"]) {
  try {
    console.log(JSON.stringify(await exitRuns("tcp_migrate_req=1")));
  } finally {
    live.cleanUp();
  }
  process.exit(0);
}

const balance = [];
const exits = [];
try {
  const cases = [["keepalive", 32], ["keepalive", 1000], ["close", 32], ["close", 1000]];
  for (const [i, [mode, connections]] of cases.entries()) {
    for (const design of i % 2 ? ["reuseport", "shared"] : ["shared", "reuseport"]) {
      const row = await run(design, mode, connections, BALANCE_S, false);
      process.stderr.write(
        `balance · ${design} · ${mode} · ${connections}: ${
          row.split.map((s) => (s * 100).toFixed(0)).join("/")
        }\n`,
      );
      balance.push(row);
    }
  }
  exits.push(...await exitRuns(`tcp_migrate_req=${sysctl()}`));
  if (!values["no-netns"]) exits.push(...netnsRuns());
} finally {
  live.cleanUp();
}

/** The exit runs again inside `unshare --net` with tcp_migrate_req=1 (empty if that fails). */
function netnsRuns() {
  const script = [
    "ip link set lo up",
    "sysctl -q -w net.ipv4.tcp_migrate_req=1",
    `exec "$0" "${join(ROOT, "bench", "balance_bench.mjs")}" --exit-only-json` +
    (values.quick ? " --quick" : ""),
  ].join(" && ");
  try {
    const out = execFileSync("unshare", ["--net", "sh", "-c", script, process.execPath], {
      stdio: ["ignore", "pipe", "inherit"],
      timeout: 300_000,
    });
    return JSON.parse(out.toString().trim().split("\n").at(-1));
  } catch (error) {
    process.stderr.write(`no tcp_migrate_req=1 runs: ${error.message}\n`);
    return [];
  }
}

function sysctl() {
  try {
    return readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim();
  } catch {
    return "?";
  }
}

const pct = (split) => split.map((s) => (s * 100).toFixed(0)).join(" / ");
const lines = [
  "# Shared accept queue vs. one SO_REUSEPORT socket per worker",
  "",
  `- command: node bench/balance_bench.mjs ${process.argv.slice(2).join(" ")}`.trimEnd(),
  `- date: ${new Date().toISOString()}`,
  `- machine: ${cpus().length} × ${cpus()[0]?.model}, Linux ${
    readFileSync("/proc/sys/kernel/osrelease", "utf8").trim()
  }; shared with other work; load generator (autocannon, one process) on the same cores`,
  `- node: ${execFileSync(NODE, ["--version"]).toString().trim()} for workers, supervisor and load`,
  `- shared: tableflip run --workers 2; reuseport: 2 processes with listen({ reusePort: true })`,
  `- balance: ${BALANCE_S} s of load; exit: ${EXIT_S} s of load, from ${
    EXIT_AT_MS / 1000
  } s on: workers replaced one at a time, ${EXITS} times, ${EXIT_EVERY_MS} ms apart (shared: SIGHUP to \`tableflip run --workers 2 --rolling\`, which replaces both; reuseport: start a new process, then SIGTERM the oldest, which drains with HttpDrain and exits)`,
  "",
  "## Balance: requests per worker (%)",
  "",
  "| mode | conns | shared queue | reuseport |",
  "|---|--:|--:|--:|",
  ...["keepalive", "close"].flatMap((mode) =>
    [32, 1000].map((c) => {
      const find = (d) =>
        balance.find((r) => r.design === d && r.mode === mode && r.connections === c);
      return `| ${mode} | ${c} | ${pct(find("shared")?.split ?? [])} | ${
        pct(find("reuseport")?.split ?? [])
      } |`;
    })
  ),
  "",
  "## A worker exits under load",
  "",
  "Failed = refused/reset/timeout/non-2xx[/other] over the whole run (0 without the exit).",
  "Replacements: shared, each SIGHUP until both old workers had exited (starting the new ones",
  "included); reuseport, each SIGTERM (sent once the new process listened) until the old one exited.",
  "",
  "| sysctl | mode | conns | busy when told to go | design | requests | failed | replacements (ms) |",
  "|---|---|--:|--:|---|--:|---|--:|",
  ...exits.map((r) =>
    `| ${r.netns} | ${r.mode} | ${r.connections} | ${r.busyMs} ms | ${r.design} | ${r.requests} | ${
      failedCell(r.failed)
    } | ${r.exit?.drainsMs?.join(", ") ?? "-"} |`
  ),
];
const md = lines.join("\n") + "\n";
mkdirSync(values.out, { recursive: true });
writeFileSync(join(values.out, "balance.json"), JSON.stringify({ balance, exits }, null, 1));
writeFileSync(join(values.out, "balance.md"), md);
console.log(md);
