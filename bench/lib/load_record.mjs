// What a load generator process (bench/lib/load.mjs, rate_load.mjs) records
// and hands back to the bench: every response (time since start, latency),
// every failure (time, kind) and its own CPU time (process.cpuUsage(), µs, in
// all and every 250 ms), written as JSON to its `out` file at the end.
import { writeFileSync } from "node:fs";
import process from "node:process";

/** A fresh record for this run; `finish()` writes it to `out` and exits the process. */
export function loadRecord(out) {
  // Wall-clock ms comparable with Date.now() elsewhere, monotonic within this run.
  const epoch0 = Date.now();
  const perf0 = performance.now();
  const clock = () => epoch0 + (performance.now() - perf0);
  const start = clock();
  /** CPU time of this process (the load generator itself), from its start. */
  const cpu0 = process.cpuUsage();
  /** Response times since start (ms, 0.1 ms resolution) and latencies (ms). */
  const resT = [];
  const resLat = [];
  /** Failures: [time since start, kind]. */
  const failures = [];
  const rel = () => Math.round((clock() - start) * 10) / 10;
  /** This process's CPU time every 250 ms: [time since start (ms), user + system (ms)]. */
  const cpuSeries = [];
  setInterval(() => {
    const { user, system } = process.cpuUsage(cpu0);
    cpuSeries.push([rel(), Math.round((user + system) / 1000)]);
  }, 250).unref();
  return {
    clock,
    start,
    rel,
    resT,
    resLat,
    failures,
    /** A response answered now, `latency` ms after its request was sent (or due). */
    answered(latency) {
      resT.push(rel());
      resLat.push(Math.round(latency * 100) / 100);
    },
    /** A failed request, of `kind`, now. */
    failed(kind) {
      failures.push([rel(), kind]);
    },
    finish() {
      writeFileSync(
        out,
        JSON.stringify({
          start,
          end: clock(),
          resT,
          resLat,
          failures,
          cpu: process.cpuUsage(cpu0),
          cpuSeries,
        }),
      );
      process.exit(0);
    },
  };
}

/** Maps a load error to a failure kind. */
export function kindOf(error) {
  const code = error?.code;
  if (code === "ECONNREFUSED") return "refused";
  if (code === "ECONNRESET" || code === "EPIPE") return "reset";
  if (code === "ETIMEDOUT" || /timed out/.test(error?.message ?? "")) return "timeout";
  return `other:${code ?? error?.message ?? error}`;
}
