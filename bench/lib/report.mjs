// Statistics, the Markdown table and the hand-written SVG chart of the benchmark.

/** The q-quantile (0..1) of a sorted array, or NaN if it is empty. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Median of numbers (NaN if none). */
export function median(values) {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

const fmt = (n, digits = 0) => Number.isFinite(n) ? n.toFixed(digits) : "-";
const fmtMs = (n) => Number.isFinite(n) ? (n < 10 ? n.toFixed(1) : n.toFixed(0)) : "-";

/** Failed requests as "total (refused/reset/timeout/non-2xx[/other])". */
export function failedCell(failed) {
  const { refused = 0, reset = 0, timeout = 0, "non-2xx": non2xx = 0, ...rest } = failed;
  const other = Object.values(rest).reduce((a, b) => a + b, 0);
  const total = refused + reset + timeout + non2xx + other;
  const parts = `${refused}/${reset}/${timeout}/${non2xx}` + (other ? `/${other}` : "");
  return total === 0 ? "**0**" : `**${total}** (${parts})`;
}

/** The Markdown report: conditions, the main table, the throughput ratios. */
export function markdown({ conditions, scenarios, ratios }) {
  const lines = [];
  lines.push(`# Upgrade benchmark results`, "");
  for (const [key, value] of Object.entries(conditions)) lines.push(`- ${key}: ${value}`);
  lines.push(
    "",
    "Failed = refused/reset/timeout/non-2xx[/other]. Latency in ms, p50/p99: *steady* is outside the",
    "windows from 1 s before each SIGHUP to 1 s after the old process exited; *upgrade* is inside them.",
    "SIGHUP→ready = until the new process wrote the PID file (median over the upgrades), split into",
    "the runtime's own start-up of a .ts file (measured apart, same run) + the rest (library and app;",
    "the demo sleeps 1000 ms on purpose before listening). Drain = new ready → old process gone.",
    "Peak RSS = both generations (and any child) together, sampled every 50 ms.",
    "",
    "| runtime | server | mode | conns | upgrades | requests | failed | p50/p99 steady | p50/p99 upgrade | SIGHUP→ready (runtime + rest) | drain | peak RSS |",
    "|---|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|",
  );
  for (const s of scenarios) {
    lines.push(
      `| ${s.runtime} | ${s.server} | ${s.mode} | ${s.connections} | ${s.upgrades.length}` +
        ` | ${s.requests} | ${failedCell(s.failed)}` +
        ` | ${fmtMs(s.steady.p50)} / ${fmtMs(s.steady.p99)}` +
        ` | ${fmtMs(s.around.p50)} / ${fmtMs(s.around.p99)}` +
        ` | ${fmt(s.readyMs)} (${fmt(s.runtimeStartMs)} + ${fmt(s.readyMs - s.runtimeStartMs)})` +
        ` | ${fmt(s.drainMs)} ms | ${fmt(s.peakRssMb)} MB |`,
    );
  }
  if (ratios.length) {
    lines.push(
      "",
      "Steady-state throughput through an inherited socket as a ratio to the same server bound",
      "directly: two instances, one upgraded once, loaded in alternating 2 s keep-alive bursts",
      "(the first round and the first 500 ms of each burst are warm-up and not counted).",
      "",
      "| runtime | server | conns | direct req/s | inherited req/s | ratio |",
      "|---|---|--:|--:|--:|--:|",
    );
    for (const r of ratios) {
      lines.push(
        `| ${r.runtime} | ${r.server} | ${r.connections} | ${fmt(r.direct)} | ${fmt(r.inherited)}` +
          ` | ${fmt(r.inherited / r.direct, 2)} |`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

const escape = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;");

/**
 * One SVG with a panel per scenario: requests/s (line), failed requests/s
 * (red bars, own scale, labelled), each upgrade as a shaded span from SIGHUP
 * to the old process's exit with a dashed line at the SIGHUP.
 */
export function svgChart(title, scenarios) {
  const W = 760, PH = 150, TOP = 56, GAP = 34, L = 64, R = 56;
  const H = TOP + scenarios.length * (PH + GAP);
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${L}" y="22" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<text x="${L}" y="40" fill="#555">` +
      `<tspan fill="#1f6feb">— req/s</tspan>  <tspan fill="#d1242f">▮ failed/s</tspan>` +
      `  <tspan fill="#bf8700">┆ SIGHUP</tspan>  <tspan fill="#1a7f37">│ new ready</tspan>` +
      `  <tspan fill="#bf8700">░ until old exit</tspan></text>`,
  );
  scenarios.forEach((s, i) => {
    const y0 = TOP + i * (PH + GAP) + 18;
    const seconds = s.series.length;
    const x = (t) => L + (t / Math.max(1, seconds)) * (W - L - R);
    const maxRps = Math.max(1, ...s.series.map((b) => b.ok));
    const niceMax = niceCeil(maxRps);
    const y = (v) => y0 + PH - (v / niceMax) * PH;
    const maxErr = Math.max(0, ...s.series.map((b) => b.failed));
    const errMax = niceCeil(Math.max(1, maxErr));
    const yErr = (v) => y0 + PH - (v / errMax) * PH;
    const total = Object.values(s.failed).reduce((a, b) => a + b, 0);
    out.push(
      `<text x="${L}" y="${y0 - 6}" font-weight="bold">${escape(s.label)} — ` +
        `${s.requests} requests, ${total} failed</text>`,
      `<rect x="${L}" y="${y0}" width="${W - L - R}" height="${PH}" fill="#fafafa" stroke="#ccc"/>`,
    );
    const clampX = (t) => Math.min(W - R, Math.max(L, x(t)));
    const vline = (px, style) =>
      `<line x1="${px.toFixed(1)}" y1="${y0}" x2="${px.toFixed(1)}" y2="${y0 + PH}" ${style}/>`;
    for (const u of s.upgrades) {
      const a = clampX(u.hup), b = clampX(Number.isFinite(u.exit) ? u.exit : u.hup + 0.1);
      out.push(
        `<rect x="${a.toFixed(1)}" y="${y0}" width="${Math.max(1, b - a).toFixed(1)}" ` +
          `height="${PH}" fill="#bf8700" fill-opacity="0.12"/>`,
        vline(a, `stroke="#bf8700" stroke-dasharray="4 3"`),
        vline(clampX(u.ready), `stroke="#1a7f37" stroke-width="1.2"`),
      );
    }
    for (const frac of [0, 0.5, 1]) {
      const v = niceMax * frac;
      out.push(
        `<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#1f6feb">${
          compact(v)
        }</text>`,
      );
    }
    out.push(
      `<text x="${W - R + 6}" y="${(yErr(errMax) + 4).toFixed(1)}" fill="#d1242f">${errMax}</text>`,
      `<text x="${W - R + 6}" y="${(yErr(0) + 4).toFixed(1)}" fill="#d1242f">0</text>`,
    );
    const barW = Math.max(1, (W - L - R) / Math.max(1, seconds) * 0.6);
    s.series.forEach((b, t) => {
      if (b.failed > 0) {
        out.push(
          `<rect x="${(x(t + 0.5) - barW / 2).toFixed(1)}" y="${
            yErr(b.failed).toFixed(1)
          }" width="${barW.toFixed(1)}" height="${
            (y0 + PH - yErr(b.failed)).toFixed(1)
          }" fill="#d1242f" fill-opacity="0.8"/>`,
        );
      }
    });
    const points = s.series.map((b, t) => `${x(t + 0.5).toFixed(1)},${y(b.ok).toFixed(1)}`);
    out.push(
      `<polyline points="${points.join(" ")}" fill="none" stroke="#1f6feb" stroke-width="1.8"/>`,
    );
    for (let t = 0; t <= seconds; t += seconds > 20 ? 5 : 2) {
      out.push(
        `<text x="${x(t).toFixed(1)}" y="${
          y0 + PH + 13
        }" text-anchor="middle" fill="#555">${t}s</text>`,
      );
    }
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function compact(v) {
  return v >= 1000 ? `${(v / 1000).toFixed(v % 1000 ? 1 : 0)}k` : String(v);
}
