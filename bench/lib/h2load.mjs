// HTTP/1.1 keep-alive load from h2load (Debian's nghttp2-client) in `--h1`
// mode, with the result in the shape bench/lib/load.mjs writes (response
// times and latencies in ms since the start, dated failures, CPU every
// 250 ms). At 10,000 connections autocannon needs a whole core and its
// event loop stalls for seconds while thousands of clients reconnect, so it
// measures itself; h2load, an epoll loop in C, stays well under one core
// (bench/README.md, the storm section).
//
// Its `--log-file` has one row per finished request: start (µs since the
// epoch), HTTP status, µs to the end of the response. Requests that never
// finished are only counted in its summary ("N failed, N errored, N
// timeout"), undated: they are reported as `undated`.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cpuMs } from "./procs.mjs";

/** Parses h2load's summary line "requests: 10 total, 10 started, 9 done, 9 succeeded, 1 failed, ...". */
function parseSummary(stdout) {
  const line = /^requests: (.*)$/m.exec(stdout)?.[1] ?? "";
  const counts = {};
  for (const m of line.matchAll(/(\d+) (\w+)/g)) counts[m[2]] = Number(m[1]);
  return counts;
}

/**
 * How many clients one h2load process connects at once. At 10,000 in one
 * burst the listener's accept queue (capped at net.core.somaxconn, 4096
 * here) overflows, and h2load 1.52 never stops the clients whose SYN was
 * dropped and that connect after its duration: it runs on past `-D`. So the
 * clients are split into processes of at most this many, started
 * {@link STAGGER_MS} apart, all ending together.
 */
const CLIENTS_PER_PROCESS = 2000;
const STAGGER_MS = 500;
/** How long after its duration an h2load process may run before it is stopped. */
const HUNG_MS = 10_000;

/**
 * Starts h2load against `http://127.0.0.1:<port><path>` with `connections`
 * keep-alive clients for `duration` s, each sending its next request as soon as
 * the last one is answered. Resolves `started` with the epoch ms
 * it was started at, `done` with the results of all its processes merged.
 */
export function startH2load({ port, path = "/", connections, duration, dir, bin = "h2load" }) {
  const start = Date.now();
  const parts = Math.ceil(connections / CLIENTS_PER_PROCESS);
  const runs = [];
  for (let k = 0; k < parts; k++) {
    const clients = Math.min(CLIENTS_PER_PROCESS, connections - k * CLIENTS_PER_PROCESS);
    runs.push(
      new Promise((r) => setTimeout(r, k * STAGGER_MS)).then(() =>
        runOne({
          bin,
          clients,
          ms: duration * 1000 - k * STAGGER_MS,
          port,
          path,
          start,
          log: join(dir, `h2load-${k}.log`),
        })
      ),
    );
  }
  const done = Promise.all(runs).then((results) => {
    const merged = {
      start,
      end: Date.now(),
      resT: [],
      resLat: [],
      failures: [],
      undated: {},
      summary: {},
    };
    for (const r of results) {
      for (let i = 0; i < r.resT.length; i++) {
        merged.resT.push(r.resT[i]);
        merged.resLat.push(r.resLat[i]);
      }
      for (const f of r.failures) merged.failures.push(f);
      for (const [k, v] of Object.entries(r.summary)) {
        merged.summary[k] = (merged.summary[k] ?? 0) + v;
      }
    }
    for (const kind of ["failed", "errored", "timeout"]) {
      if (merged.summary[kind]) merged.undated[kind] = merged.summary[kind];
    }
    merged.cpuSeries = sumSeries(results.map((r) => r.cpuSeries));
    merged.hung = results.filter((r) => r.hung).length;
    return merged;
  });
  return { started: Promise.resolve(start), done };
}

/** CPU series [t, ms] of several processes, summed at each of the first one's times. */
function sumSeries(all) {
  return all[0].map(([t]) => [
    t,
    all.reduce((sum, series) => sum + (series.findLast(([u]) => u <= t)?.[1] ?? 0), 0),
  ]);
}

/** One h2load process; resolves with its responses, failures and CPU series. */
function runOne({ bin, clients, ms, port, path, start, log }) {
  const child = spawn(bin, [
    "--h1",
    "-c",
    String(clients),
    "-t",
    "1",
    "-D",
    `${Math.round(ms)}ms`,
    "--log-file",
    log,
    `http://127.0.0.1:${port}${path}`,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s) => (stderr += s));
  const cpuSeries = [];
  const sampler = setInterval(() => {
    const ms = cpuMs(child.pid);
    if (ms !== undefined) cpuSeries.push([Date.now() - start, ms]);
  }, 250);
  // Clients whose connection was still waiting in the server's accept queue
  // (or on a dropped SYN) when the duration ended keep h2load 1.52 running:
  // stop it HUNG_MS after that. Its summary is lost then, and the last rows
  // of its log that it had not written out yet.
  let hung = false;
  const watchdog = setTimeout(() => {
    hung = true;
    child.kill("SIGKILL");
  }, ms + HUNG_MS);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => {
      clearInterval(sampler);
      clearTimeout(watchdog);
      if (code !== 0 && !hung) {
        return reject(new Error(`h2load exited with ${code}: ${stderr.trim() || stdout.trim()}`));
      }
      const resT = [];
      const resLat = [];
      const failures = [];
      for (const row of readFileSync(log, "utf8").split("\n")) {
        if (!row) continue;
        const [startUs, status, us] = row.split("\t").map(Number);
        const t = (startUs + us) / 1000 - start;
        if (status >= 200 && status < 300) {
          resT.push(Math.round(t * 10) / 10);
          resLat.push(Math.round(us / 10) / 100);
        } else failures.push([t, `status:${status}`]);
      }
      resolve({ resT, resLat, failures, summary: parseSummary(stdout), cpuSeries, hung });
    });
  });
}
