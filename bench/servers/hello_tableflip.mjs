// bench/workers_bench.mjs, variants "tableflip" (alone, SIGHUP to the pid in
// BENCH_PID_FILE) and "tableflip run --workers 2" (the same file as each
// worker): servers/hello.mjs behind an Upgrader, drained with HttpDrain.
// Plain JavaScript that loads tableflip from BENCH_TABLEFLIP, the built
// package's esm/mod.js (lib/package.mjs), as an application would; without
// it, from the source (mod.ts).
//
// Env: BENCH_TABLEFLIP, BENCH_ADDR (default 127.0.0.1:0), BENCH_PID_FILE,
// BENCH_STATS_DIR, BENCH_BUSY_MS (see hello.mjs), BENCH_SPREAD_MS (HttpDrain's
// `spread`; unset: its default).
import http from "node:http";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { busy, countRequests, hello } from "./hello.mjs";

/** @type {typeof import("../../mod.ts")} */
const { HttpDrain, Upgrader } = await import(
  process.env.BENCH_TABLEFLIP ? pathToFileURL(process.env.BENCH_TABLEFLIP).href : "../../mod.ts"
);

countRequests();
const upg = new Upgrader({ pidFile: process.env.BENCH_PID_FILE });
if (!upg.supervisor) upg.upgradeOnSignal("SIGHUP");
const server = http.createServer(hello);
const drain = new HttpDrain(server);
const listener = await upg.listen("tcp", process.env.BENCH_ADDR ?? "127.0.0.1:0", server);
await upg.ready();
await upg.exit;
busy();
setTimeout(() => process.exit(1), 30_000).unref();
const spread = process.env.BENCH_SPREAD_MS ? Number(process.env.BENCH_SPREAD_MS) : undefined;
await drain.shutdown({ listeners: [listener], timeout: 30_000, spread });
