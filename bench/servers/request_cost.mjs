// A bare node:http server for bench/request_cost_bench.mjs: `GET /` answers
// "hello". With BENCH_DRAIN=1 an HttpDrain (from BENCH_TABLEFLIP, the built
// package's esm/mod.js) tracks it, as every tableflip app's server is; no
// drain ever starts, so what differs is the drain's per-request bookkeeping.
// With BENCH_DRAIN=import the package is loaded but no HttpDrain made: what
// loading it costs later requests (a larger heap for the GC to walk). With
// BENCH_DRAIN=noop a second "request" listener that does nothing is put
// first, as HttpDrain's is: what a second listener costs by itself.
// Listens on 127.0.0.1:BENCH_PORT and prints "listening".
import http from "node:http";
import process from "node:process";
import { pathToFileURL } from "node:url";

const server = http.createServer((_req, res) => res.end("hello\n"));
if (process.env.BENCH_DRAIN === "1" || process.env.BENCH_DRAIN === "import") {
  /** @type {typeof import("../../mod.ts")} */
  const { HttpDrain } = await import(pathToFileURL(process.env.BENCH_TABLEFLIP ?? "").href);
  if (process.env.BENCH_DRAIN === "1") new HttpDrain(server);
}
if (process.env.BENCH_DRAIN === "noop") server.prependListener("request", () => {});
server.listen({ host: "127.0.0.1", port: Number(process.env.BENCH_PORT) }, () => {
  console.log("listening");
});
