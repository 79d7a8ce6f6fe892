// WebSocketDrain with real `ws` clients: at an upgrade every open WebSocket
// gets the application's goodbye and a 1001 close, reconnects to the new
// generation, and no acknowledged message is lost (ws on node:http on every
// runtime; Bun.serve and Deno.serve through tableflip/native on theirs); a
// client that never answers the close is terminated at the deadline.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EventEmitter, once } from "node:events";
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { join } from "node:path";
import WebSocket, { WebSocketServer } from "ws";
import { GOING_AWAY, WebSocketDrain } from "../mod.ts";
import { RUNTIME, startFixture, tempDir, until } from "./_helpers.ts";

const CLIENTS = 100;
/** Bun and Deno also serve WebSockets natively (Bun.serve, Deno.upgradeWebSocket). */
const NATIVE = RUNTIME === "bun" || RUNTIME === "deno";
/** Pause between a client's acknowledged message and its next one, in ms. */
const PACE = 50;

/** A client that sends numbered messages, one at a time, and reconnects on close. */
class Client {
  readonly pids: number[] = [];
  readonly closes: number[] = [];
  /** pid of each goodbye, in order. */
  readonly byes: number[] = [];
  readonly acked = new Set<number>();
  /** Acknowledgements by the pid that sent them. */
  readonly ackedBy: Record<number, number> = {};
  #seq = 0;
  #unacked = false;
  #running = true;
  #ws?: WebSocket;
  readonly id: number;
  readonly port: number;
  readonly changed: EventEmitter;

  constructor(id: number, port: number, changed: EventEmitter) {
    this.id = id;
    this.port = port;
    this.changed = changed;
    this.#connect();
  }

  #connect(): void {
    const ws = this.#ws = new WebSocket(`ws://127.0.0.1:${this.port}`);
    let pid = 0;
    const send = () => {
      if (ws.readyState !== ws.OPEN || !this.#running) return;
      if (!this.#unacked) this.#seq++;
      this.#unacked = true;
      ws.send(JSON.stringify({ client: this.id, seq: this.#seq }));
    };
    ws.on("message", (data) => {
      const message = JSON.parse(String(data));
      if (message.type === "hello") {
        pid = message.pid;
        this.pids.push(pid);
        send();
      } else if (message.type === "ack" && message.seq === this.#seq) {
        this.acked.add(message.seq);
        this.ackedBy[pid] = (this.ackedBy[pid] ?? 0) + 1;
        this.#unacked = false;
        setTimeout(send, PACE);
      } else if (message.type === "bye") {
        this.byes.push(message.pid);
      }
      this.changed.emit("change");
    });
    ws.on("error", () => {}); // a close follows
    ws.on("close", (code) => {
      this.closes.push(code);
      this.changed.emit("change");
      if (this.#running) this.#connect();
    });
  }

  /** Stops sending and closes normally. */
  async stop(): Promise<void> {
    this.#running = false;
    const ws = this.#ws!;
    if (ws.readyState === ws.CLOSED) return;
    const closed = once(ws, "close");
    ws.close(1000);
    await closed;
  }
}

/**
 * Runs `fixture` (ws_server.ts or ws_native_server.ts), connects CLIENTS
 * clients, upgrades once and checks what every client saw.
 */
async function upgradeWithClients(fixtureName: string): Promise<void> {
  const log = join(tempDir(), "messages.log");
  const fixture = startFixture(fixtureName, { WS_LOG: log });
  const changed = new EventEmitter().setMaxListeners(0);
  try {
    const port = await fixture.port(0);
    const oldPid = (await fixture.waitFor({ event: "ready", generation: 0 })).pid;
    const clients = Array.from({ length: CLIENTS }, (_, i) => new Client(i, port, changed));
    await until(changed, () => clients.every((c) => c.acked.size >= 1), "first acks");

    fixture.signal("SIGHUP");
    const newPid = (await fixture.waitFor({ event: "ready", generation: 1 })).pid;
    await until(
      changed,
      () => clients.every((c) => (c.ackedBy[newPid] ?? 0) >= 2),
      "acks from the new generation",
    );
    const drained = await fixture.waitFor({ event: "drained", pid: oldPid });
    await Promise.all(clients.map((c) => c.stop()));

    for (const c of clients) {
      assert.is(c.closes[0], GOING_AWAY, `client ${c.id} closes: ${c.closes}`);
      assert.not.ok(c.closes.includes(1006), `client ${c.id} saw 1006`);
      assert.equal(c.pids.slice(0, 2), [oldPid, newPid], `client ${c.id} pids`);
      assert.equal(c.byes, [oldPid], `client ${c.id} goodbyes`);
    }
    const logged = new Set(readFileSync(log, "utf8").split("\n").filter(Boolean));
    const lost = clients.flatMap((c) =>
      [...c.acked].filter((seq) => !logged.has(`${c.id} ${seq}`)).map((seq) => `${c.id} ${seq}`)
    );
    assert.equal(lost, [], "acknowledged messages missing from the log");
    assert.equal(drained.webSockets, { closed: CLIENTS, forced: 0, timedOut: false });
    // The HTTP side (HttpDrain, node:http only) ended nothing by force either.
    assert.ok((drained.forced ?? 0) === 0 && drained.timedOut !== true, JSON.stringify(drained));
    // ws_native_server.ts reports whether the native server serves.
    const listening = fixture.lines.filter((l) => l.event === "listening");
    assert.ok(listening.every((l) => l.native !== false), JSON.stringify(listening));
  } finally {
    await fixture.killAll();
  }
}

test(`${CLIENTS} WebSockets (ws on node:http) get a goodbye and a 1001 close at an upgrade and reconnect to the new generation, losing no acknowledged message`, async () => {
  await upgradeWithClients("ws_server.ts");
});

(NATIVE ? test : test.skip)(
  `${CLIENTS} WebSockets on ${
    RUNTIME === "bun" ? "Bun.serve" : "Deno.serve"
  } (tableflip/native): the same`,
  async () => {
    await upgradeWithClients("ws_native_server.ts");
  },
);

test("the goodbye hook runs before the 1001 frame; a client that never answers it is terminated at the deadline", async () => {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  const sockets = new WebSocketDrain({
    reason: "bye",
    goodbye: (ws: WebSocket) => new Promise<void>((done) => ws.send("goodbye", () => done())),
  }).trackServer(wss);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  let connected = 0;
  const bothConnected = new Promise<void>((resolve) =>
    wss.on("connection", () => ++connected === 2 && resolve())
  );

  // A well-behaved client.
  const polite = new WebSocket(`ws://127.0.0.1:${port}`);
  const received: string[] = [];
  polite.on("message", (data) => received.push(String(data)));
  const politeClosed = once(polite, "close");
  // A raw client that completes the handshake, then never answers anything.
  const stuck = net.connect({ port, host: "127.0.0.1" });
  let bytes = Buffer.alloc(0);
  stuck.on("data", (d) => bytes = Buffer.concat([bytes, d]));
  const stuckEnded = new Promise((resolve) => stuck.once("close", resolve));
  stuck.write(
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  await bothConnected;
  assert.is(sockets.size, 2);

  const result = await sockets.close({ timeout: 500 });
  const [code, reason] = await politeClosed;
  assert.is(code, GOING_AWAY);
  assert.is(String(reason), "bye");
  assert.equal(received, ["goodbye"]);
  await stuckEnded;
  // After the 101 response: the goodbye text frame, then a close frame with 1001 and "bye".
  const frames = bytes.subarray(bytes.indexOf("\r\n\r\n") + 4);
  const close = frames.subarray(frames.indexOf(0x88));
  assert.is(close.readUInt16BE(2), GOING_AWAY);
  assert.is(String(close.subarray(4, 4 + close[1] - 2)), "bye");
  assert.equal(result, { closed: 1, forced: 1, timedOut: true });
  assert.ok(sockets.draining);
  assert.ok(sockets.signal.aborted);
  server.close();
});

test.run();
