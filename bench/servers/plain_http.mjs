// A bare node:http server, without tableflip, for bench/accept_bench.mjs:
// every request is answered "ok". Runs on Node, Bun and Deno (their
// node:http). Listens on 127.0.0.1:BENCH_PORT with the kernel's largest
// accept queue and prints "listening" once it does.
import http from "node:http";
import process from "node:process";

const server = http.createServer((_req, res) => res.end("ok\n"));
server.listen({ host: "127.0.0.1", port: Number(process.env.BENCH_PORT), backlog: 65_535 }, () => {
  console.log("listening");
});
