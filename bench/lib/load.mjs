#!/usr/bin/env node
// The load generator process of the benchmark, kept apart from the
// orchestrator so that the orchestrator's clock readings are not delayed by
// a busy event loop. One JSON argument:
//   { kind: "http" | "tcp", port, path, connections, mode: "keepalive" | "close",
//     duration (s), timeout (s), out (file) }
// HTTP load is autocannon (its programmatic API); "close" sends
// `Connection: close` so every request uses a new connection. TCP load is a
// small line-echo client (see ../servers/echo_server.ts for the protocol).
// Prints `started <epoch ms>` once the load starts; writes every response
// (time, latency), every failure (time, kind) and its own CPU time
// (process.cpuUsage(), µs, in all and every 250 ms) to `out` at the end
// (./load_record.mjs).
import { createRequire } from "node:module";
import net from "node:net";
import process from "node:process";
import { kindOf, loadRecord } from "./load_record.mjs";

const config = JSON.parse(process.argv[2]);
const record = loadRecord(config.out);
const { clock, start, finish } = record;

console.log(`started ${start}`);

if (config.kind === "http") {
  const require = createRequire(new URL("../../package.json", import.meta.url));
  const autocannon = require("autocannon");
  const instance = autocannon({
    url: `http://127.0.0.1:${config.port}${config.path ?? "/"}`,
    connections: config.connections,
    duration: config.duration,
    timeout: config.timeout ?? 5,
    headers: config.mode === "close" ? { connection: "close" } : {},
    // When the server closes a connection (Connection: close), autocannon
    // reconnects but keeps the unanswered request it had already queued on the
    // old one, so every later latency on that client is measured from the
    // previous request's start. Start each connection with an empty queue.
    setupClient: (client) => {
      const connect = client._connect;
      client._connect = function () {
        this.pipelinedRequests.clear();
        return connect.call(this);
      };
    },
  });
  instance.on("response", (_client, statusCode, _bytes, latency) => {
    if (statusCode >= 200 && statusCode < 300) record.answered(latency);
    else record.failed("non-2xx");
  });
  instance.on("reqError", (error) => record.failed(kindOf(error)));
  instance.on("done", finish);
} else {
  const end = start + config.duration * 1000;
  const timeoutMs = (config.timeout ?? 5) * 1000;
  let running = config.connections;
  const client = () => {
    let seq = 0;
    let socket;
    let sentAt = 0;
    let buffer = "";
    let timer;
    let outstanding = false;
    const fail = (kind) => {
      clearTimeout(timer);
      if (outstanding) record.failed(kind);
      outstanding = false;
      socket?.removeAllListeners();
      socket?.on("error", () => {});
      socket?.destroy();
      socket = undefined;
      next();
    };
    const send = () => {
      outstanding = true;
      sentAt = clock();
      socket.write(`${++seq}\n`);
      timer = setTimeout(() => fail("timeout"), timeoutMs);
    };
    const next = () => {
      if (clock() >= end) {
        socket?.destroy();
        if (--running === 0) finish();
        return;
      }
      if (socket) return send();
      buffer = "";
      socket = net.connect({ host: "127.0.0.1", port: config.port, noDelay: true });
      socket.setEncoding("utf8");
      // A connect that fails is a failed request: count it as outstanding.
      outstanding = true;
      socket.once("connect", () => send());
      socket.on("error", (error) => fail(kindOf(error)));
      socket.on("end", () => fail("closed-without-reply"));
      socket.on("data", (chunk) => {
        buffer += chunk;
        const newline = buffer.indexOf("\n");
        if (newline < 0) return;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        clearTimeout(timer);
        outstanding = false;
        const [echoed, bye] = line.split(" ");
        if (Number(echoed) !== seq) record.failed("mismatch");
        else record.answered(clock() - sentAt);
        if (bye === "bye" || config.mode === "close") {
          socket.removeAllListeners();
          socket.on("error", () => {});
          socket.end();
          socket = undefined;
        }
        next();
      });
    };
    next();
  };
  for (let i = 0; i < config.connections; i++) client();
}
