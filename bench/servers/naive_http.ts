// The benchmark's "naive drain": an HTTP server like examples/demo.ts that
// upgrades on SIGHUP but drains with Node's own `http.Server#close()`, which
// (Node >= 19) also closes idle keep-alive connections at once. Clients that
// were just sending their next request on such a connection see a reset.
//
// Env: BENCH_ADDR (default 127.0.0.1:0), BENCH_PID_FILE.
import http from "node:http";
import process from "node:process";
import { Upgrader } from "../../mod.ts";

const upg = new Upgrader({ pidFile: process.env.BENCH_PID_FILE });
upg.upgradeOnSignal("SIGHUP");
const server = http.createServer((_req, res) => res.end("v0.0.1\n"));
await upg.listen("tcp", process.env.BENCH_ADDR ?? "127.0.0.1:0", server);
await upg.ready();
await upg.exit;
setTimeout(() => process.exit(1), 30_000).unref();
server.close(() => process.exit(0));
