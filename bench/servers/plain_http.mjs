// A bare node:http server, without tableflip, for bench/accept_bench.mjs:
// every request is answered "ok". Runs on Node, Bun and Deno (their
// node:http). Listens on 127.0.0.1:BENCH_PORT with the kernel's largest
// accept queue and prints "listening" once it does.
// With BENCH_SERVER=native it is the runtime's own server instead, Bun.serve
// or Deno.serve, with its own accept queue size; BENCH_SERVERS=N runs N
// Deno.serve on the port (reusePort, each with its own queue).
import http from "node:http";
import process from "node:process";

const port = Number(process.env.BENCH_PORT);
const hostname = "127.0.0.1";
const onListen = () => console.log("listening");
const global = /** @type {any} */ (globalThis);
/** Deno.serve only: this many servers on the port (reusePort), each with its own accept queue. */
const SERVERS = Number(process.env.BENCH_SERVERS ?? 1);
if (process.env.BENCH_SERVER === "native" && global.Deno) {
  for (let i = 0; i < SERVERS; i++) {
    global.Deno.serve(
      { hostname, port, reusePort: SERVERS > 1, onListen: i === 0 ? onListen : () => {} },
      () => new Response("ok\n"),
    );
  }
} else if (process.env.BENCH_SERVER === "native" && global.Bun) {
  global.Bun.serve({ hostname, port, fetch: () => new Response("ok\n") });
  onListen();
} else {
  const server = http.createServer((_req, res) => res.end("ok\n"));
  server.listen({ host: hostname, port, backlog: 65_535 }, onListen);
}
