// A bare node:http server for bench/request_cost_bench.mjs: `GET /` answers
// "hello". With BENCH_DRAIN=1 an HttpDrain (from BENCH_TABLEFLIP, the built
// package's esm/mod.js) tracks it, as every tableflip app's server is; no
// drain ever starts, so what differs is the drain's per-request bookkeeping.
// With BENCH_DRAIN=import the package is loaded but no HttpDrain made: what
// loading it costs later requests (a larger heap for the GC to walk). With
// BENCH_DRAIN=noop a second "request" listener that does nothing is put
// first, as HttpDrain's is: what a second listener costs by itself. With
// BENCH_DRAIN=forward a plain net server listens and hands each connection to
// the http server, as the Node backend does for the accept copies of a
// listening socket (runtimes/node.ts): what a connection accepted that way
// costs per request. BENCH_DRAIN=forward-same does the same with the net
// server accepting as the http server would (allowHalfOpen, the options
// http.Server gives its own net.Server).
// Listens on 127.0.0.1:BENCH_PORT and prints "listening".
import http from "node:http";
import net from "node:net";
import process from "node:process";
import { pathToFileURL } from "node:url";

const server = http.createServer((_req, res) => res.end("hello\n"));
if (process.env.BENCH_DRAIN === "1" || process.env.BENCH_DRAIN === "import") {
  /** @type {typeof import("../../mod.ts")} */
  const { HttpDrain } = await import(pathToFileURL(process.env.BENCH_TABLEFLIP ?? "").href);
  if (process.env.BENCH_DRAIN === "1") new HttpDrain(server);
}
if (process.env.BENCH_DRAIN === "noop") server.prependListener("request", () => {});
const forward = (socket) => server.emit("connection", socket);
const listener = process.env.BENCH_DRAIN === "forward"
  ? net.createServer({ noDelay: true }, forward)
  : process.env.BENCH_DRAIN === "forward-same"
  ? net.createServer({ noDelay: true, allowHalfOpen: true }, forward)
  : server;
listener.listen({ host: "127.0.0.1", port: Number(process.env.BENCH_PORT) }, () => {
  console.log("listening");
});
