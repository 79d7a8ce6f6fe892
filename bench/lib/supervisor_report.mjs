// The Markdown report of bench/supervisor_bench.mjs.
import { failedCell } from "./report.mjs";

const f = (n, digits = 0) => Number.isFinite(n) ? n.toFixed(digits) : "-";
const ms = (n) => Number.isFinite(n) ? (n < 10 ? n.toFixed(1) : n.toFixed(0)) : "-";

/** Conditions, the cost table and the side-by-side upgrade table. */
export function supervisorMarkdown({ conditions, costs, runs }) {
  const lines = ["# Supervisor benchmark results", ""];
  for (const [key, value] of Object.entries(conditions)) lines.push(`- ${key}: ${value}`);
  if (costs.length) {
    lines.push(
      "",
      "The supervisor's own cost next to the generations it runs. CPU = utime + stime from",
      "`/proc/<pid>/stat` (10 ms ticks) as % of one core over the window; RSS = VmRSS, mean of",
      "samples every 25 ms (peak in the upgrade window, where old and new generation add up).",
      "",
      "| runtime | window | length | supervisor CPU | generations CPU | supervisor RSS | generations RSS |",
      "|---|---|--:|--:|--:|--:|--:|",
    );
    for (const c of costs) {
      for (const [name, w] of Object.entries(c.windows)) {
        const peak = name === "upgrade";
        const rssOf = (r) => `${f(peak ? r.peakRssMb : r.rssMb)} MB${peak ? " (peak)" : ""}`;
        const what = name === "idle"
          ? "idle"
          : name === "load"
          ? `load (${c.connections} conns keep-alive, ${f(c.requestsPerS)} req/s)`
          : `upgrade (SIGHUP → old exited, under load)`;
        lines.push(
          `| ${c.runtime} | ${what} | ${f(w.windowMs / 1000, 1)} s` +
            ` | ${f(w.supervisor.cpuPct, 1)} % (${f(w.supervisor.cpuMs)} ms)` +
            ` | ${f(w.generations.cpuPct, 1)} % (${f(w.generations.cpuMs)} ms)` +
            ` | ${rssOf(w.supervisor)} | ${rssOf(w.generations)} |`,
        );
      }
    }
  }
  if (runs.length) {
    lines.push(
      "",
      "Upgrades under load through the supervisor (SIGHUP to the supervisor) and without it",
      "(SIGHUP to the pid in the demo's PID file). Failed = refused/reset/timeout/non-2xx[/other],",
      "nothing retried. Latency in ms over the whole run (p50, p99) and p99 inside the windows",
      "from 1 s before each SIGHUP to 1 s after the old generation exited. SIGHUP→ready (PID file",
      "written by the new generation) and drain (→ old generation gone): medians over the upgrades;",
      "the demo sleeps 1000 ms before it listens, by design. CPU as % of one core over the run:",
      "load generator (its own process.cpuUsage) / generations (all of them, from /proc) /",
      "supervisor.",
      "",
      "| runtime | mode | conns | via | order | req/s | failed | upgrades | p50 / p99 | p99 upgrade | SIGHUP→ready | drain | CPU load gen / gens / sup |",
      "|---|---|--:|---|--:|--:|---|--:|--:|--:|--:|--:|--:|",
    );
    for (const r of runs) {
      const under = r.upgradesUnderLoad === r.upgrades.length
        ? `${r.upgrades.length}`
        : `${r.upgrades.length} (${r.upgradesUnderLoad} under load)`;
      lines.push(
        `| ${r.runtime} | ${r.mode} | ${r.connections} | ${r.via} | ${r.order}` +
          ` | ${f(r.requestsPerS)} | ${failedCell(r.failed)} | ${under}` +
          ` | ${ms(r.latency.p50)} / ${ms(r.latency.p99)} | ${ms(r.latency.upgradeP99)}` +
          ` | ${f(r.readyMs)} ms | ${f(r.drainMs)} ms` +
          ` | ${f(r.loadCpuPct)} / ${f(r.generationsCpuPct)} / ${
            r.via === "supervisor" ? f(r.supervisorCpuPct, 1) : "-"
          } % |`,
      );
    }
  }
  if (runs.length) lines.push("", ...caseSummary(runs));
  return lines.join("\n") + "\n";
}

/** Per case: mean req/s through the supervisor and directly, their ratio, failures. */
function caseSummary(runs) {
  const cases = new Map();
  for (const r of runs) {
    const key = `${r.runtime} | ${r.mode} | ${r.connections}`;
    if (!cases.has(key)) cases.set(key, { supervisor: [], direct: [] });
    cases.get(key)[r.via].push(r);
  }
  const mean = (rs) => rs.reduce((a, r) => a + r.requestsPerS, 0) / rs.length;
  const out = [
    "Per case: mean requests/s of each variant (n runs each), the ratio supervisor / direct, and",
    "the failed requests of all its runs.",
    "",
    "| runtime | mode | conns | n | supervisor req/s | direct req/s | ratio | failed (all runs) |",
    "|---|---|--:|--:|--:|--:|--:|--:|",
  ];
  for (const [key, { supervisor, direct }] of cases) {
    const failed = [...supervisor, ...direct].reduce((a, r) => a + r.failedTotal, 0);
    out.push(
      `| ${key} | ${Math.min(supervisor.length, direct.length)} | ${f(mean(supervisor))}` +
        ` | ${f(mean(direct))} | ${f(mean(supervisor) / mean(direct), 2)} | ${failed} |`,
    );
  }
  return out;
}
