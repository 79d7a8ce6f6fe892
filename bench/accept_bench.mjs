#!/usr/bin/env node
// How fast does a busy server accept new connections? At a handover every
// keep-alive client of the old generation reconnects to the new one, which is
// soon as busy as the old one was; the clients still in its accept queue then
// wait for it to call accept(). This bench measures that wait, without
// tableflip: a bare node:http server (servers/plain_http.mjs) on each runtime,
//
//   - idle: NEW connections opened at once, each sending one request;
//   - busy: the same while h2load keeps BUSY keep-alive connections
//     saturating it (each sends its next request as soon as it is answered).
//
// For each new connection: ms from connect() to its response; how many had
// none after the limit; the accept queue overflows (TCP counters) meanwhile.
//
//   node bench/accept_bench.mjs                               # node22, bun, deno
//   node bench/accept_bench.mjs --runtimes node22 --busy 4000 --new 2000
//   node bench/accept_bench.mjs --runtimes bun:native,deno:native    # Bun.serve, Deno.serve
//   node bench/accept_bench.mjs --runtimes deno:native:4   # 4 Deno.serve on the port (reusePort)
//
// Prints a markdown table.
import { spawn } from "node:child_process";
import net from "node:net";
import process from "node:process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { commandFor, ROOT } from "../scripts/runtimes.mjs";
import { freePort } from "../scripts/free_port.mjs";
import { acceptQueue } from "../scripts/accept_queue.mjs";
import { quantile } from "./lib/report.mjs";
import { counterDelta, readTcpCounters } from "./lib/tcp_counters.mjs";

const { values } = parseArgs({
  options: {
    runtimes: { type: "string", default: "node22,bun,deno" },
    busy: { type: "string", default: "2000" },
    new: { type: "string", default: "1000" },
    limit: { type: "string", default: "5" },
  },
});
const BUSY = Number(values.busy);
const NEW = Number(values.new);
const LIMIT = Number(values.limit) * 1000;
/** How long the busy load's own connections may take to be accepted. */
const LOAD_LIMIT = 20_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the bare server on `label`: a runtime (its node:http), `runtime:native`
 * (Bun.serve, Deno.serve) or `deno:native:N` (N Deno.serve on the port); resolves
 * with its process and port.
 */
async function startServer(label) {
  const [runtime, server = "node", servers = "1"] = label.split(":");
  const port = await freePort();
  const argv = commandFor(runtime, `${ROOT}/bench/servers/plain_http.mjs`);
  // Deno.serve's reusePort is behind a flag (after `run`).
  if (runtime === "deno" && servers !== "1") argv.splice(2, 0, "--unstable-net");
  const child = spawn(argv[0], argv.slice(1), {
    env: { ...process.env, BENCH_PORT: String(port), BENCH_SERVER: server, BENCH_SERVERS: servers },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${runtime} server exited with ${code}`)));
    createInterface({ input: child.stdout }).on("line", (l) => l === "listening" && resolve());
  });
  return { child, port };
}

/**
 * Opens `count` connections at once, one request each. Resolves with the ms
 * from connect() to each response, and how many had none within LIMIT.
 */
function newConnections(port, count) {
  return new Promise((resolve) => {
    const times = [];
    let unanswered = 0;
    let pending = count;
    const settle = () => --pending === 0 && resolve({ times, unanswered });
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      const socket = net.connect({ port, host: "127.0.0.1" });
      const timer = setTimeout(() => {
        unanswered++;
        socket.destroy();
        settle();
      }, LIMIT);
      socket.on("error", () => {});
      socket.once("connect", () => socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      socket.once("data", () => {
        clearTimeout(timer);
        times.push(performance.now() - t0);
        socket.destroy();
        settle();
      });
    }
  });
}

/** Runs h2load with BUSY keep-alive clients until it is killed. */
function startBusyLoad(port) {
  const child = spawn("h2load", [
    "--h1",
    "-c",
    String(BUSY),
    "-t",
    "1",
    "-D",
    "600",
    `http://127.0.0.1:${port}/`,
  ], { stdio: "ignore" });
  return child;
}

/**
 * Waits until the server has accepted every connection h2load made (its
 * accept queue is empty, and stays so for 500 ms): resolves with the ms that
 * took, or Infinity after LOAD_LIMIT.
 */
async function loadAccepted(port, t0) {
  let emptySince;
  for (;;) {
    const now = performance.now();
    if (now - t0 > LOAD_LIMIT) return Infinity;
    const queued = acceptQueue(port);
    if (queued === undefined) throw new Error(`no listener on port ${port}`);
    if (queued > 0) emptySince = undefined;
    else if ((emptySince ??= now) && now - emptySince >= 500) return emptySince - t0;
    await sleep(20);
  }
}

const summary = ({ times, unanswered }) => {
  times.sort((a, b) => a - b);
  const r = (x) => (x === undefined || Number.isNaN(x) ? "-" : Math.round(x));
  return `${r(quantile(times, 0.5))} / ${r(quantile(times, 0.99))} / ${r(times.at(-1))}` +
    ` | ${unanswered}`;
};

const rows = [];
for (const runtime of values.runtimes.split(",")) {
  const { child, port } = await startServer(runtime);
  try {
    const idle = await newConnections(port, NEW);
    const t0 = performance.now();
    const load = startBusyLoad(port);
    // h2load connects all its clients at once, then keeps each one busy.
    await sleep(1000);
    const accepted = await loadAccepted(port, t0);
    const before = readTcpCounters();
    const busy = await newConnections(port, NEW);
    const tcp = counterDelta(before, readTcpCounters());
    load.kill("SIGKILL");
    rows.push(
      `| ${runtime} | ${summary(idle)} | ${
        accepted === Infinity ? `not within ${LOAD_LIMIT / 1000} s` : Math.round(accepted)
      } | ${summary(busy)} | ${tcp.ListenOverflows} |`,
    );
  } finally {
    child.kill("SIGKILL");
  }
}
console.log(
  [
    `${NEW} new connections opened at once, one request each; busy: while ${BUSY} keep-alive`,
    `connections from h2load keep the server saturated. ms from connect() to the response:`,
    "",
    "| runtime | idle: p50 / p99 / max | unanswered after " + LIMIT / 1000 + " s |" +
    " load's connections all accepted after (ms) | busy: p50 / p99 / max | unanswered after " +
    LIMIT / 1000 + " s | accept queue overflows |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
  ].join("\n"),
);
