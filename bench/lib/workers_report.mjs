// The numbers and the Markdown report of bench/workers_bench.mjs.
import { failedCell, median, quantile } from "./report.mjs";

const fmt = (n, digits = 0) => Number.isFinite(n) ? n.toFixed(digits) : "-";
const fmtMs = (n) => Number.isFinite(n) ? (n < 10 ? n.toFixed(1) : n.toFixed(0)) : "-";

/**
 * One run's figures from the load generator's raw results: every response
 * (lib/load.mjs) or totals (lib/wrk.mjs).
 * @param {{ variant: string, label: string, workers: number, mode: string, connections: number,
 *   result: ({ start: number, end: number, resT: number[], resLat: number[],
 *     failures: [number, string][] } | { seconds: number, requests: number,
 *     failed: Record<string, number>, p50: number, p99: number })
 *     & { cpu: { user: number, system: number } },
 *   reloads: { at: number, commandMs: number, newMs: number | null, goneMs: number | null }[],
 *   lastGen: { pid: number, requests: number }[], counts: Record<string, number>,
 *   cpu: { workers: number, manager: number } }} run
 */
export function summarize(run) {
  const { result } = run;
  const figures = result.resT ? fromResponses(result) : fromTotals(result);
  const { seconds, requests } = figures;
  const rps = requests / seconds;
  const gen = run.lastGen.filter((w) => w.requests > 0).sort((a, b) => b.requests - a.requests);
  const genTotal = gen.reduce((s, w) => s + w.requests, 0);
  return {
    variant: run.variant,
    label: run.label,
    workers: run.workers,
    mode: run.mode,
    connections: run.connections,
    seconds,
    requests,
    rps,
    rpsPerWorker: rps / run.workers,
    failed: figures.failed,
    failedTotal: Object.values(figures.failed).reduce((a, b) => a + b, 0),
    p50: figures.p50,
    p99: figures.p99,
    reloads: run.reloads,
    reloadGoneMs: median(run.reloads.map((r) => r.goneMs ?? NaN).filter(Number.isFinite)),
    lastGenSplit: gen.map((w) => genTotal ? w.requests / genTotal : 0),
    counts: run.counts,
    cpu: {
      // % of one core over the run.
      workers: (run.cpu.workers / seconds) * 100,
      manager: (run.cpu.manager / seconds) * 100,
      load: ((result.cpu.user + result.cpu.system) / 1e6 / seconds) * 100,
    },
    series: figures.series,
  };
}

/** A run's figures from every response and failure (lib/load.mjs, autocannon). */
function fromResponses(result) {
  const failed = {};
  for (const [, kind] of result.failures) failed[kind] = (failed[kind] ?? 0) + 1;
  const lat = [...result.resLat].sort((a, b) => a - b);
  const series = [];
  for (const t of result.resT) {
    const s = Math.floor(t / 1000);
    series[s] ??= { ok: 0, failed: 0 };
    series[s].ok++;
  }
  for (const [t] of result.failures) {
    const s = Math.floor(t / 1000);
    series[s] ??= { ok: 0, failed: 0 };
    series[s].failed++;
  }
  return {
    seconds: (result.end - result.start) / 1000,
    requests: result.resT.length,
    failed,
    p50: quantile(lat, 0.5),
    p99: quantile(lat, 0.99),
    series: Array.from(series, (b) => b ?? { ok: 0, failed: 0 }),
  };
}

/** A run's figures from a generator that reports totals only (lib/wrk.mjs): no series. */
function fromTotals(result) {
  const { seconds, requests, failed, p50, p99 } = result;
  return { seconds, requests, failed, p50, p99, series: [] };
}

/** "61/39" for a two-worker split; "-" for one worker. */
function splitCell(split) {
  if (split.length < 2) return "-";
  return split.map((s) => fmt(s * 100)).join("/");
}

/** The report: conditions, one comparison table per configuration, then every run. */
export function workersMarkdown({ conditions, runs }) {
  const lines = ["# Workers benchmark results", ""];
  for (const [key, value] of Object.entries(conditions)) lines.push(`- ${key}: ${value}`);
  const configs = [...new Set(runs.map((r) => `${r.mode} · ${r.connections}`))];
  const variants = [...new Set(runs.map((r) => r.label))];
  lines.push(
    "",
    "## Side by side",
    "",
    "req/s (failed requests) over the whole run, with its reloads (3 unless *Every run* says",
    "fewer), one cell per round. Failed = refused, reset, timed out or non-2xx, counted by the",
    "client; nothing is retried.",
    "",
    `| configuration | ${variants.join(" | ")} |`,
    `|---|${variants.map(() => "--:").join("|")}|`,
  );
  for (const c of configs) {
    const cells = variants.map((v) => {
      const rs = runs.filter((x) => x.label === v && `${x.mode} · ${x.connections}` === c);
      return rs.length ? rs.map((r) => `${fmt(r.rps)} (${r.failedTotal})`).join(" · ") : "-";
    });
    lines.push(`| ${c} | ${cells.join(" | ")} |`);
  }
  const totals = variants.map((v) => {
    const rs = runs.filter((x) => x.label === v);
    const failed = rs.reduce((a, r) => a + r.failedTotal, 0);
    const reloads = rs.reduce((a, r) => a + r.reloads.length, 0);
    return `**${failed}** failed, ${reloads} reloads`;
  });
  lines.push(`| all runs | ${totals.join(" | ")} |`);
  lines.push(
    "",
    "## Every run",
    "",
    "Failed = refused/reset/timeout/non-2xx[/other]. Per worker = req/s ÷ workers. n = reloads in",
    "the run. Split = how the",
    "requests of the last generation (from the last reload to the end) divided between its workers,",
    "in %. Reload = from asking to the last old worker's exit, median (ms; + = some old worker still",
    "ran 15 s after the reload). CPU in % of one core over",
    "the run: the workers together / the manager (supervisor, cluster primary or PM2 daemon) / the",
    "load generator (one process, at most 100%). Req per CPU-s = requests ÷ CPU seconds of the",
    "workers and the manager together: throughput per unit of CPU actually received, which depends",
    "less on what the other work on the machine left over.",
    "",
    "| round | variant | mode | conns | requests | req/s | per worker | failed | p50 / p99 ms | n | reload | split | CPU workers / manager / load | req per CPU-s |",
    "|--:|---|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|",
  );
  for (const r of runs) {
    lines.push(
      `| ${r.round ?? 1} | ${r.label} | ${r.mode} | ${r.connections} | ${r.requests}` +
        ` | ${fmt(r.rps)} | ${fmt(r.rpsPerWorker)} | ${failedCell(r.failed)}` +
        ` | ${fmtMs(r.p50)} / ${fmtMs(r.p99)} | ${r.reloads.length}` +
        ` | ${fmt(r.reloadGoneMs)}${r.reloads.some((x) => x.goneMs === null) ? "+" : ""}` +
        ` | ${splitCell(r.lastGenSplit)}` +
        ` | ${fmt(r.cpu.workers)} / ${fmt(r.cpu.manager)} / ${fmt(r.cpu.load)}` +
        ` | ${fmt(r.requests / ((r.cpu.workers + r.cpu.manager) / 100 * r.seconds))} |`,
    );
  }
  return lines.join("\n") + "\n";
}
