#!/usr/bin/env node
// What HttpDrain costs per request while nothing drains, in CPU instructions
// rather than req/s: a bare node:http server (servers/request_cost.mjs) with
// and without an HttpDrain, run under valgrind's callgrind on Node 22, is
// sent N1 and then N2 keep-alive requests by h2load (32 connections); the
// instructions per request are the difference of the two totals over
// N2 - N1, which leaves Node's start-up out. Instruction counts move by about
// 2% from run to run (V8's JIT and GC, and how many requests each read
// brings), whatever else the machine is doing, where req/s on these 2 shared
// cores moves by 2x within minutes. (Under callgrind V8 runs the same code
// paths, about 50 times slower: a ratio, not a speed.)
//
//   node bench/request_cost_bench.mjs                 # 4 servers, 3,000 and 13,000 requests: about 5 min
//   node bench/request_cost_bench.mjs --rounds 4 --n1 3000 --n2 23000 --only 1   # plain and HttpDrain
//
// The servers: plain; the package loaded (--only import); an empty second
// "request" listener (noop); with HttpDrain (1); connections accepted by a
// plain net server and handed to the http server, as on the Node backend's
// accept copies (forward). Plain always runs.
//
// Needs valgrind and h2load (apt-get install valgrind nghttp2-client).
import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { ROOT, RUNTIMES } from "../scripts/runtimes.mjs";
import { freePort } from "../scripts/free_port.mjs";
import { buildPackage } from "./lib/package.mjs";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "1" },
    n1: { type: "string", default: "3000" },
    n2: { type: "string", default: "13000" },
    only: { type: "string" },
  },
});
for (const tool of ["valgrind", "h2load"]) {
  try {
    execFileSync(tool, ["--version"], { stdio: "ignore" });
  } catch {
    console.error(`${tool} is not installed: apt-get install valgrind nghttp2-client`);
    process.exit(2);
  }
}
const N1 = Number(values.n1);
const N2 = Number(values.n2);
if (!(N1 > 0 && N2 > N1)) {
  console.error(`--n1 and --n2 must be request counts with n1 < n2, got ${N1} and ${N2}`);
  process.exit(2);
}
const PKG = buildPackage();
/** Server variants by name: what servers/request_cost.mjs is told through BENCH_DRAIN. */
const ALL = {
  plain: "0",
  // The package loaded, nothing made: does a larger heap cost later requests?
  "package loaded": "import",
  // A second "request" listener that does nothing (HttpDrain adds one, first).
  "empty request listener": "noop",
  "with HttpDrain": "1",
  // Connections accepted by a plain net server and handed over, as on the accept copies.
  "accepted by a net server": "forward",
  // The same, the net server accepting with the http server's options (allowHalfOpen).
  "accepted by a net server, http's options": "forward-same",
};
const only = values.only?.split(",");
const VARIANTS = Object.fromEntries(
  Object.entries(ALL).filter(([name]) => name === "plain" || !only || only.includes(ALL[name])),
);

/** Instructions callgrind counted in a server process that answered `requests` requests. */
async function instructions(drain, requests) {
  const port = await freePort();
  const server = spawn("valgrind", [
    "--tool=callgrind",
    "--smc-check=all-non-file",
    "--callgrind-out-file=/dev/null",
    RUNTIMES.node22.exe,
    join(ROOT, "bench", "servers", "request_cost.mjs"),
  ], {
    env: { ...process.env, BENCH_PORT: String(port), BENCH_DRAIN: drain, BENCH_TABLEFLIP: PKG.mod },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  server.stderr.on("data", (d) => err += d);
  const exited = new Promise((resolve) => server.once("exit", resolve));
  await new Promise((resolve, reject) => {
    server.stdout.on("data", (d) => String(d).includes("listening") && resolve(undefined));
    server.once("exit", () => reject(new Error(`the server exited: ${err.slice(-2000)}`)));
  });
  const out = execFileSync("h2load", [
    "--h1",
    "-n",
    String(requests),
    "-c",
    "32",
    "-t",
    "1",
    `http://127.0.0.1:${port}/`,
  ]).toString();
  const done = /(\d+) succeeded/.exec(out)?.[1];
  if (Number(done) !== requests) throw new Error(`h2load: ${done} of ${requests} succeeded`);
  server.kill("SIGINT");
  await exited;
  const collected = /Collected : (\d+)/.exec(err)?.[1];
  if (!collected) throw new Error(`no callgrind total in: ${err.slice(-2000)}`);
  return Number(collected);
}

const rows = [];
for (let round = 1; round <= Number(values.rounds); round++) {
  for (const [name, drain] of Object.entries(VARIANTS)) {
    const a = await instructions(drain, N1);
    const b = await instructions(drain, N2);
    const perRequest = (b - a) / (N2 - N1);
    rows.push({ round, name, perRequest });
    process.stderr.write(
      `round ${round}: ${name}: ${Math.round(perRequest)} instructions/request\n`,
    );
  }
}
const plain = rows.filter((r) => r.name === "plain");
const base = plain.reduce((s, r) => s + r.perRequest, 0) / plain.length;
console.log(
  `\nnode22 ${execFileSync(RUNTIMES.node22.exe, ["--version"]).toString().trim()}, ` +
    `instructions per request (${N1} and ${N2} requests, 32 keep-alive connections)\n`,
);
console.log("| round | server | instructions per request | vs plain (mean) |");
console.log("| --: | --- | --: | --: |");
for (const r of rows) {
  const change = (r.perRequest / base - 1) * 100;
  const vs = `${change < 0 ? "" : "+"}${change.toFixed(1)}`;
  console.log(
    `| ${r.round} | ${r.name} | ${Math.round(r.perRequest)} | ${
      r.name === "plain" ? "" : `${vs}%`
    } |`,
  );
}
