// bench/workers_bench.mjs, variant "PM2": servers/hello.mjs as a PM2 cluster
// app in the usual shape (ecosystem written by lib/pm2.mjs): listen, then
// `process.send("ready")` (wait_ready), and close the server on SIGINT.
//
// Env: BENCH_ADDR (host:port), BENCH_STATS_DIR.
import http from "node:http";
import process from "node:process";
import { countRequests, hello } from "./hello.mjs";

const [host, port] = (process.env.BENCH_ADDR ?? "127.0.0.1:0").split(/:(?=\d+$)/);
countRequests();
const server = http.createServer(hello);
server.listen(Number(port), host, () => process.send?.("ready"));
process.on("SIGINT", () => server.close(() => process.exit(0)));
