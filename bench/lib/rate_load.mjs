#!/usr/bin/env node
// An open-loop HTTP/1.1 keep-alive load: `connections` clients, each asking
// `rps` times a second on its own schedule (phases spread over the period),
// whether or not the server keeps up. A request that cannot be sent on time
// (its client still waits for the last answer, or is reconnecting) is sent as
// soon as it can, and its latency counts from when it was due, not from when
// it went out (as wrk2 does), so a stalled server or a reconnection shows in
// the latencies instead of thinning the load. A client whose connection is
// closed (`Connection: close`, the drain) reconnects at once and goes on with
// its schedule. h2load's own `--rps` cannot serve here: after a reconnection
// its client sends one request and then none (h2load 1.52, checked by hand:
// 10 clients at 10/s against a server closing every third response sent 40
// requests in 5 s, not 500).
//
// One JSON argument, as bench/lib/load.mjs takes:
//   { port, path, connections, rps, duration (s), timeout (s), out (file) }
// Clients connect in groups of 2,000, 500 ms apart (10,000 SYNs at once
// overflow an accept queue capped at net.core.somaxconn). Prints `started
// <epoch ms>`; writes every response (time since start, latency from when it
// was due), every failure (time, kind) and its own CPU time every 250 ms to
// `out` when the duration is over.
import net from "node:net";
import process from "node:process";
import { kindOf, loadRecord } from "./load_record.mjs";

const config = JSON.parse(process.argv[2]);
const record = loadRecord(config.out);
const { clock, start } = record;
const end = start + config.duration * 1000;
const period = 1000 / config.rps;
const timeoutMs = (config.timeout ?? 10) * 1000;

const GROUP = 2000;
const GROUP_MS = 500;
/** The scheduler's resolution: every TICK_MS, the clients whose turn came are asked to send. */
const TICK_MS = 5;
const request = `GET ${config.path ?? "/"} HTTP/1.1\r\nHost: 127.0.0.1:${config.port}\r\n\r\n`;

/** One client: a connection, the times its requests were due, the one in flight. */
class Client {
  socket = undefined;
  connected = false;
  /** Whether its first connect has begun (it owes nothing before). */
  begun = false;
  /** Due times (clock ms) of requests not yet sent. */
  owed = [];
  /** Due time of the request in flight, or undefined. */
  inFlight = undefined;
  buffer = "";
  timer = undefined;

  connect() {
    this.begun = true;
    this.buffer = "";
    const socket = net.connect({ host: "127.0.0.1", port: config.port, noDelay: true });
    this.socket = socket;
    socket.setEncoding("latin1");
    socket.once("connect", () => {
      this.connected = true;
      this.pump();
    });
    socket.on("data", (chunk) => this.onData(chunk));
    socket.on("error", (error) => this.lost(kindOf(error)));
    socket.on("close", () => this.lost("closed-without-reply"));
  }

  /** The connection is gone: a request in flight failed, of `kind`; reconnect while the run lasts. */
  lost(kind) {
    if (!this.socket) return;
    this.release("destroy");
    if (this.inFlight !== undefined) {
      clearTimeout(this.timer);
      record.failed(kind);
      this.inFlight = undefined;
    }
    if (clock() < end) this.connect();
  }

  /** Lets go of the connection (`end` after a last answer, `destroy` otherwise), deaf to its later events. */
  release(how) {
    this.socket.removeAllListeners();
    this.socket.on("error", () => {});
    this.socket[how]();
    this.socket = undefined;
    this.connected = false;
  }

  /** A request came due. */
  due(at) {
    if (!this.begun) return;
    this.owed.push(at);
    this.pump();
  }

  /** Sends the oldest owed request if the connection is free. */
  pump() {
    if (!this.connected || this.inFlight !== undefined || this.owed.length === 0) return;
    this.inFlight = this.owed.shift();
    this.socket.write(request);
    this.timer = setTimeout(() => this.lost("timeout"), timeoutMs);
  }

  onData(chunk) {
    this.buffer += chunk;
    const head = this.buffer.indexOf("\r\n\r\n");
    if (head < 0) return;
    const headers = this.buffer.slice(0, head).toLowerCase();
    const length = /\r\ncontent-length: *(\d+)/.exec(headers);
    if (!length) {
      // A failure even with nothing asked: lost() counts only a request in flight.
      if (this.inFlight === undefined) record.failed("no-content-length");
      return this.lost("no-content-length");
    }
    const total = head + 4 + Number(length[1]);
    if (this.buffer.length < total) return;
    this.buffer = this.buffer.slice(total);
    clearTimeout(this.timer);
    if (this.inFlight === undefined) record.failed("unasked");
    else if (headers.startsWith("http/1.1 2")) record.answered(clock() - this.inFlight);
    else record.failed("non-2xx");
    this.inFlight = undefined;
    if (/\r\nconnection: *close/.test(headers)) {
      // The server closes after this answer: reconnect now rather than wait for its FIN.
      this.release("end");
      if (clock() < end) this.connect();
      return;
    }
    this.pump();
  }
}

console.log(`started ${start}`);

/** Clients by slot: slot k's clients come due at k * TICK_MS into every period. */
const slots = Array.from({ length: Math.max(1, Math.round(period / TICK_MS)) }, () => []);
const clients = [];
for (let i = 0; i < config.connections; i++) {
  const client = new Client();
  clients.push(client);
  slots[i % slots.length].push(client);
  setTimeout(() => client.connect(), Math.floor(i / GROUP) * GROUP_MS);
}
/** The next slot time to serve (clock ms); ticks that came late serve every slot they missed. */
let next = start;
let slot = 0;
const tick = setInterval(() => {
  const now = clock();
  if (now >= end) {
    clearInterval(tick);
    for (const client of clients) {
      clearTimeout(client.timer);
      if (client.socket) client.release("destroy");
    }
    return record.finish();
  }
  while (next <= now) {
    for (const client of slots[slot]) client.due(next);
    slot = (slot + 1) % slots.length;
    next += period / slots.length;
  }
}, TICK_MS);
