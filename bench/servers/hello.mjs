// The one HTTP handler of bench/workers_bench.mjs, shared by every variant
// (tableflip alone, tableflip run --workers, node:cluster, PM2): `GET /`
// answers a short body, anything else 404. When BENCH_STATS_DIR is set,
// `countRequests()` makes this process write its request count to
// `<dir>/<pid>` at once (so the bench sees the worker exist), every
// BENCH_STATS_EVERY_MS ms (default 200) and at exit.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";

let count = 0;

/**
 * The request handler.
 * @param {import("node:http").IncomingMessage} req
 * @param {import("node:http").ServerResponse} res
 */
export function hello(req, res) {
  count++;
  if (req.method === "GET" && req.url === "/") {
    res.end("hello\n");
  } else {
    res.statusCode = 404;
    res.end("not found\n");
  }
}

/** Starts writing this process's request count to BENCH_STATS_DIR (if set). */
export function countRequests() {
  const dir = process.env.BENCH_STATS_DIR;
  if (!dir) return;
  const file = join(dir, String(process.pid));
  const write = () => {
    try {
      writeFileSync(file, String(count));
    } catch { /* the run is over */ }
  };
  write();
  setInterval(write, Number(process.env.BENCH_STATS_EVERY_MS ?? 200)).unref();
  process.on("exit", write);
}

/**
 * Keeps the event loop busy for BENCH_BUSY_MS ms (default 0): called when a
 * worker is told to go, it stands for a worker that is busy at that moment,
 * so connections wait in its accept queue (bench/balance_bench.mjs).
 */
export function busy() {
  const end = Date.now() + Number(process.env.BENCH_BUSY_MS ?? 0);
  while (Date.now() < end) { /* busy */ }
}
