// bench/balance_bench.mjs, design "one SO_REUSEPORT socket per worker": one
// of two processes that each bind BENCH_ADDR themselves with
// `listen({ reusePort: true })` (Node >= 22.12), serve servers/hello.mjs and
// on SIGTERM drain with tableflip's HttpDrain (the same drain the supervisor's
// workers use), then exit. Prints `listening` once bound.
//
// Env: BENCH_ADDR (host:port), BENCH_STATS_DIR, BENCH_BUSY_MS (see hello.mjs).
import http from "node:http";
import process from "node:process";
import { HttpDrain } from "../../mod.ts";
import { busy, countRequests, hello } from "./hello.mjs";

const [host, port] = (process.env.BENCH_ADDR ?? "127.0.0.1:0").split(/:(?=\d+$)/);
countRequests();
const server = http.createServer(hello);
const drain = new HttpDrain(server);
server.listen({ host, port: Number(port), reusePort: true }, () => console.log("listening"));
process.once("SIGTERM", async () => {
  setTimeout(() => process.exit(1), 30_000).unref();
  busy();
  await drain.shutdown({ listeners: [server], timeout: 30_000 });
  process.exit(0);
});
