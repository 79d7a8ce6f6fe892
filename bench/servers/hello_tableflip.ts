// bench/workers_bench.mjs, variants "tableflip" (alone, SIGHUP to the pid in
// BENCH_PID_FILE) and "tableflip run --workers 2" (the same file as each
// worker): servers/hello.mjs behind an Upgrader, drained with HttpDrain.
//
// Env: BENCH_ADDR (default 127.0.0.1:0), BENCH_PID_FILE, BENCH_STATS_DIR,
// BENCH_BUSY_MS (see hello.mjs).
import http from "node:http";
import process from "node:process";
import { HttpDrain, Upgrader } from "../../mod.ts";
import { busy, countRequests, hello } from "./hello.mjs";

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
await drain.shutdown({ listeners: [listener], timeout: 30_000 });
