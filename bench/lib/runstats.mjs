// Summary of one load run with upgrades: throughput, failures, latency,
// upgrade timings and the load generator's own CPU.
import { median, quantile } from "./report.mjs";

/**
 * @param {{ start: number, end: number, resT: number[], resLat: number[],
 *   failures: [number, string][], cpu: { user: number, system: number } }} result
 *   the load generator's result (see lib/load.mjs)
 * @param {{ hup: number, ready: number, exit: number }[]} upgrades epoch ms
 */
export function summarizeRun(result, upgrades) {
  const { start, end, resT, resLat, failures, cpu } = result;
  const seconds = (end - start) / 1000;
  const rel = (t) => (t - start) / 1000;
  // Latency inside the windows from 1 s before each SIGHUP to 1 s after the old generation exited.
  const windows = upgrades.map((u) => [rel(u.hup) - 1, rel(u.exit) + 1]);
  const around = [];
  const all = [];
  for (let i = 0; i < resT.length; i++) {
    const s = resT[i] / 1000;
    all.push(resLat[i]);
    if (windows.some(([a, b]) => s >= a && s <= b)) around.push(resLat[i]);
  }
  all.sort((a, b) => a - b);
  around.sort((a, b) => a - b);
  const failed = {};
  for (const [, kind] of failures) failed[kind] = (failed[kind] ?? 0) + 1;
  // Responses per whole second of the run.
  const series = Array.from({ length: Math.max(1, Math.floor(seconds)) }, () => 0);
  for (const t of resT) if (t < series.length * 1000) series[Math.floor(t / 1000)]++;
  return {
    seconds,
    series,
    requests: resT.length,
    requestsPerS: resT.length / seconds,
    failed,
    failedTotal: failures.length,
    // When they failed (s since the load started; the first 100).
    failureTimes: failures.slice(0, 100).map(([t]) => Math.round(t) / 1000),
    latency: {
      p50: quantile(all, 0.5),
      p99: quantile(all, 0.99),
      upgradeP99: quantile(around, 0.99),
    },
    // % of one core over the whole run.
    loadCpuPct: ((cpu.user + cpu.system) / 1000 / (end - start)) * 100,
    readyMs: median(upgrades.map((u) => u.ready - u.hup)),
    drainMs: median(upgrades.map((u) => u.exit - u.ready)),
    // Upgrades whose old generation exited while the load still ran.
    upgradesUnderLoad: upgrades.filter((u) => u.exit <= end).length,
    upgrades: upgrades.map((u) => ({
      hup: rel(u.hup),
      ready: rel(u.ready),
      exit: rel(u.exit),
      readyMs: u.ready - u.hup,
      drainMs: u.exit - u.ready,
    })),
  };
}
