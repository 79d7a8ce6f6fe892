#!/usr/bin/env node
// Native-server throughput through an inherited socket, as a ratio to the same
// native server bound directly, measured in one run (see bench/NATIVE.md).
//
// For each runtime (Bun, Deno) three servers run side by side, each with the
// same handler:
//   direct     Bun.serve / Deno.serve bound by the runtime (test/fixtures/native_direct.ts)
//   inherited  serveBun / serveDeno in generation 1 of test/fixtures/native_server.ts,
//              i.e. on the socket its parent passed it, moved in by the fd transplant
//   portable   the same fixture with `native: false` (node:http on the node:net listener),
//              for scale
// and are loaded in turn, interleaved (direct, inherited, portable, then the
// reverse order, ...) so drifts in machine load hit all of them alike. The
// ratio is the median of the per-round inherited/direct ratios. Load: autocannon, keep-alive
// (and with --close, a new connection per request: `Connection: close`).
//
//   node bench/native_bench.mjs                       # bun and deno, 8 rounds of 3 s
//   node bench/native_bench.mjs --runtime bun --rounds 3 --seconds 3 --close
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { commandFor, ROOT } from "../scripts/runtimes.mjs";

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "bun,deno" },
    rounds: { type: "string", default: "8" },
    seconds: { type: "string", default: "3" },
    connections: { type: "string", default: "32" },
    close: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const WAIT_LIMIT = 30_000;
const autocannon = createRequire(import.meta.url)("autocannon");

/** A server process tree printing JSON lines. */
function start(runtime, file, env) {
  const child = spawn(commandFor(runtime, file)[0], commandFor(runtime, file).slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = [];
  const waiters = [];
  createInterface({ input: child.stdout }).on("line", (text) => {
    let line;
    try {
      line = JSON.parse(text);
    } catch {
      return;
    }
    lines.push(line);
    for (const w of waiters.splice(0)) if (!w(line)) waiters.push(w);
  });
  const waitFor = (match) =>
    new Promise((resolve, reject) => {
      const test = (l) => Object.entries(match).every(([k, v]) => l[k] === v);
      const seen = lines.find(test);
      if (seen) return resolve(seen);
      const timer = setTimeout(
        () => reject(new Error(`${runtime} ${file}: no ${JSON.stringify(match)}`)),
        WAIT_LIMIT,
      );
      waiters.push((l) => {
        if (!test(l)) return false;
        clearTimeout(timer);
        resolve(l);
        return true;
      });
    });
  const pids = () => new Set([child.pid, ...lines.map((l) => l.pid).filter(Boolean)]);
  const stop = () => {
    for (const pid of pids()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
  };
  return { child, lines, waitFor, stop };
}

/** The upgradeable fixture, upgraded once: generation 1 serves on the inherited socket. */
async function inheritedServer(runtime, native) {
  const s = start(runtime, join(ROOT, "test", "fixtures", "native_server.ts"), {
    NATIVE_FIXTURE: JSON.stringify({ native, closeGrace: 100 }),
  });
  const l0 = await s.waitFor({ event: "listening", generation: 0 });
  await s.waitFor({ event: "ready", generation: 0 });
  process.kill(s.child.pid, "SIGHUP");
  const l1 = await s.waitFor({ event: "listening", generation: 1 });
  await s.waitFor({ event: "drained", generation: 0 });
  await s.waitFor({ event: "parent-gone", generation: 1 });
  if (l1.port !== l0.port || l1.inherited !== true || l1.native !== native) {
    throw new Error(`unexpected generation 1: ${JSON.stringify(l1)}`);
  }
  return { ...s, port: l1.port };
}

async function directServer(runtime) {
  const s = start(runtime, join(ROOT, "test", "fixtures", "native_direct.ts"), {});
  const l = await s.waitFor({ event: "listening" });
  return { ...s, port: l.port };
}

/** One autocannon burst; resolves with req/s and errors. */
function burst(port, seconds) {
  return new Promise((resolve, reject) => {
    autocannon({
      url: `http://127.0.0.1:${port}/`,
      connections: CONNECTIONS,
      duration: seconds,
      headers: values.close ? { connection: "close" } : {},
    }, (error, result) => {
      if (error) return reject(error);
      resolve({
        rps: result.requests.total / seconds,
        errors: result.errors + result.timeouts + result.non2xx,
      });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rows = [];
for (const runtime of values.runtime.split(",")) {
  const servers = {};
  try {
    servers.direct = await directServer(runtime);
    servers.inherited = await inheritedServer(runtime, true);
    servers.portable = await inheritedServer(runtime, false);
    const samples = { direct: [], inherited: [], portable: [] };
    const errors = { direct: 0, inherited: 0, portable: 0 };
    // Warm-up: one short burst each (JIT, connection setup).
    for (const name of Object.keys(servers)) await burst(servers[name].port, 1);
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order (ABC, CBA, ...) so a drift in machine load cancels out.
      const order = Object.keys(servers);
      if (round % 2) order.reverse();
      for (const name of order) {
        const r = await burst(servers[name].port, SECONDS);
        samples[name].push(r.rps);
        errors[name] += r.errors;
        process.stderr.write(
          `${runtime} round ${round + 1}/${ROUNDS} ${name}: ${Math.round(r.rps)} req/s\n`,
        );
      }
    }
    const direct = median(samples.direct);
    const inherited = median(samples.inherited);
    const portable = median(samples.portable);
    // Per-round ratios (adjacent bursts); their median is the reported ratio.
    const ratios = samples.inherited.map((x, i) => x / samples.direct[i]);
    rows.push({
      runtime,
      mode: values.close ? "close" : "keep-alive",
      direct: Math.round(direct),
      inherited: Math.round(inherited),
      portable: Math.round(portable),
      ratio: median(ratios),
      ratioMin: Math.min(...ratios),
      ratioMax: Math.max(...ratios),
      portableRatio: portable / direct,
      errors: `${errors.direct}/${errors.inherited}/${errors.portable}`,
    });
  } finally {
    for (const s of Object.values(servers)) s.stop();
  }
}

const conditions = `${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), load average ` +
  `${loadavg().map((x) => x.toFixed(2)).join(" ")} at the end, ${CONNECTIONS} connections, ` +
  `${ROUNDS} rounds x ${SECONDS} s per server, interleaved; autocannon in the bench process`;
if (values.json) console.log(JSON.stringify({ conditions, rows }, null, 2));
console.log(
  "| runtime | load | direct req/s | inherited req/s | ratio | per-round ratios | " +
    "node:http portable req/s | portable/direct | errors (d/i/p) |",
);
console.log("|---|---|---:|---:|---:|---|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.runtime} | ${r.mode} | ${r.direct} | ${r.inherited} | ${r.ratio.toFixed(3)} | ` +
      `${r.ratioMin.toFixed(2)}-${r.ratioMax.toFixed(2)} | ${r.portable} | ` +
      `${r.portableRatio.toFixed(2)} | ${r.errors} |`,
  );
}
console.log(`\nConditions: ${conditions}.`);
process.exit(0);
