// bench/workers_bench.mjs, variant "node:cluster": a small primary that forks
// BENCH_WORKERS (default 2) workers serving servers/hello.mjs. SIGHUP is the
// usual rolling restart: fork as many new workers, wait for each one's
// 'listening', then disconnect the old ones (each closes its server and exits
// once its connections end; killed after 30 s, PM2's kill_timeout here).
// SIGTERM/SIGINT disconnect every worker and end the primary.
//
// Env: BENCH_ADDR (host:port), BENCH_WORKERS, BENCH_STATS_DIR.
import cluster from "node:cluster";
import http from "node:http";
import process from "node:process";
import { countRequests, hello } from "./hello.mjs";

const [host, port] = (process.env.BENCH_ADDR ?? "127.0.0.1:0").split(/:(?=\d+$)/);
const count = Number(process.env.BENCH_WORKERS ?? 2);
const KILL_AFTER_MS = 30_000;

if (cluster.isPrimary) {
  /** @type {import("node:cluster").Worker[]} */
  let current = [];
  const forkOne = () =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork();
      worker.once("listening", () => resolve(worker));
      worker.once("exit", (code) => reject(new Error(`worker exited with ${code}`)));
    });
  const retire = (worker) => {
    const timer = setTimeout(() => worker.process.kill("SIGKILL"), KILL_AFTER_MS);
    worker.once("exit", () => clearTimeout(timer));
    worker.disconnect();
  };
  const start = async () => {
    const next = await Promise.all(Array.from({ length: count }, forkOne));
    const old = current;
    current = next;
    for (const worker of old) retire(worker);
  };
  let reloading = Promise.resolve();
  process.on("SIGHUP", () => {
    reloading = reloading.then(start).catch((error) => console.error("reload failed:", error));
  });
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
      for (const worker of Object.values(cluster.workers ?? {})) retire(worker);
      cluster.disconnect(() => process.exit(0));
    });
  }
  reloading = start();
} else {
  countRequests();
  http.createServer(hello).listen(Number(port), host);
}
