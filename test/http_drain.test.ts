// HttpDrain against real sockets: it stops accepting, tells keep-alive
// clients `Connection: close`, and closes only idle connections, never with a reset.
import { test } from "uvu";
import * as assert from "uvu/assert";
import http from "node:http";
import net from "node:net";
import { once } from "node:events";
import { HttpDrain } from "../mod.ts";
import { RUNTIME } from "./_helpers.ts";

/** A server whose /slow requests wait for `release()`. */
async function serve(idleGrace = 100) {
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  const server = http.createServer(async (req, res) => {
    if (req.url === "/slow") await released;
    res.end("ok");
  });
  const drain = new HttpDrain(server, { idleGrace });
  // A net listener feeding the http server, as the upgrader's listeners do
  // (the only way to adopt an inherited fd for HTTP on Bun).
  const listener = net.createServer((socket) => server.emit("connection", socket));
  listener.listen(0, "127.0.0.1");
  await once(listener, "listening");
  const { port } = listener.address() as net.AddressInfo;
  const shutdown = (options: { timeout: number; signal?: AbortSignal; spread?: number }) =>
    drain.shutdown({ listeners: [listener], ...options });
  return { server, listener, drain, shutdown, port, release };
}

/** Sends raw HTTP/1.1 requests on one keep-alive socket and records what happens. */
function rawClient(port: number) {
  const socket = net.connect({ port, host: "127.0.0.1" });
  let data = "";
  socket.setEncoding("utf8");
  socket.on("data", (d) => data += d);
  const ended = new Promise<string>((resolve) => {
    socket.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    socket.on("end", () => resolve("end"));
  });
  return {
    socket,
    ended,
    connected: once(socket, "connect"),
    send: (path: string) => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`),
    responses: () => data.split("HTTP/1.1 ").slice(1),
    waitForResponses: async (n: number) => {
      while (data.split("HTTP/1.1 ").length - 1 < n) await once(socket, "data");
    },
  };
}

test("an in-flight keep-alive request is answered with Connection: close, then the socket ends cleanly", async () => {
  const { server, listener, shutdown, port, release } = await serve();
  const client = rawClient(port);
  await client.connected;
  const requested = once(server, "request");
  client.send("/slow");
  await requested;
  const draining = shutdown({ timeout: 5000 });
  release();
  await client.waitForResponses(1);
  assert.match(client.responses()[0], /connection: close/i);
  assert.is(await client.ended, "end");
  const result = await draining;
  assert.equal(result, { closed: 1, forced: 0, timedOut: false });
  assert.is(listener.listening, false);
});

/** Pipelining is up to each runtime's http server; these two pin Node's. */
const pipelined = RUNTIME.startsWith("node") ? test : test.skip;

pipelined(
  "pipelined requests in flight at the drain are all answered; only the last says Connection: close",
  async () => {
    const { server, shutdown, port, release } = await serve();
    const client = rawClient(port);
    await client.connected;
    let seen = 0;
    const requested = new Promise<void>((resolve) => {
      server.on("request", () => ++seen === 2 && resolve());
    });
    client.socket.write(
      "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    await requested;
    const draining = shutdown({ timeout: 5000 });
    release();
    await client.waitForResponses(2);
    const [first, second] = client.responses();
    assert.not.match(first, /connection: close/i);
    assert.match(second, /connection: close/i);
    assert.is(await client.ended, "end");
    assert.equal(await draining, { closed: 1, forced: 0, timedOut: false });
  },
);

pipelined(
  "a request pipelined after the drain started takes the close from the one before it",
  async () => {
    const { server, shutdown, port, release } = await serve();
    const client = rawClient(port);
    await client.connected;
    const first = once(server, "request");
    client.send("/slow");
    await first;
    const draining = shutdown({ timeout: 5000 });
    const second = once(server, "request");
    client.send("/fast");
    await second;
    release();
    await client.waitForResponses(2);
    const responses = client.responses();
    assert.not.match(responses[0], /connection: close/i);
    assert.match(responses[1], /connection: close/i);
    assert.is(await client.ended, "end");
    assert.equal(await draining, { closed: 1, forced: 0, timedOut: false });
  },
);

test("an idle keep-alive connection is closed after idleGrace with a FIN, not a reset", async () => {
  const { shutdown, port } = await serve(100);
  const client = rawClient(port);
  await client.connected;
  client.send("/");
  await client.waitForResponses(1);
  assert.match(client.responses()[0], /connection: keep-alive/i);
  const result = await shutdown({ timeout: 5000 });
  assert.is(await client.ended, "end");
  // Deno's node:http ends a connection handed in through 'connection' after
  // each response by itself, so there may be nothing left for the drain to close.
  assert.equal(result, {
    closed: RUNTIME === "deno" ? result.closed : 1,
    forced: 0,
    timedOut: false,
  });
});

test("a just-accepted connection is not closed before its first request, which gets Connection: close", async () => {
  const { server, drain, shutdown, port } = await serve(50);
  const client = rawClient(port);
  const accepted = once(server, "connection");
  await client.connected;
  await accepted;
  const draining = shutdown({ timeout: 5000 });
  // Let several idle-grace periods pass: the connection must still be open.
  await new Promise((r) => setTimeout(r, 300));
  assert.is(drain.connections, 1);
  client.send("/");
  await client.waitForResponses(1);
  assert.match(client.responses()[0], /connection: close/i);
  assert.is(await client.ended, "end");
  assert.equal(await draining, { closed: 1, forced: 0, timedOut: false });
});

test("new connections are refused once draining; the deadline destroys what is left", async () => {
  const { shutdown, port, release } = await serve();
  const client = rawClient(port);
  await client.connected;
  client.send("/slow");
  const result = await shutdown({ timeout: 300 });
  assert.equal(result, { closed: 0, forced: 1, timedOut: true });
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    s.once("connect", () => (s.destroy(), resolve("connected")));
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
  });
  assert.is(refused, "ECONNREFUSED");
  release();
});

test("an aborted drain ends at once", async () => {
  const { shutdown, port, release } = await serve();
  const client = rawClient(port);
  await client.connected;
  client.send("/slow");
  const controller = new AbortController();
  const draining = shutdown({ timeout: 60_000, signal: controller.signal });
  controller.abort();
  assert.equal(await draining, { closed: 0, forced: 1, timedOut: true });
  release();
});

/** `n` keep-alive clients, connected one after the other, each answered once. */
async function servedClients(port: number, n: number) {
  const clients = [];
  for (let i = 0; i < n; i++) {
    const c = rawClient(port);
    await c.connected;
    c.send("/");
    await c.waitForResponses(1);
    clients.push(c);
  }
  return clients;
}

/** Keeps sending requests on `client` as each is answered; resolves with when `Connection: close` came. */
async function requestUntilClosed(client: ReturnType<typeof rawClient>, t0: number) {
  for (let n = 1;; n++) {
    client.send("/");
    await client.waitForResponses(n);
    if (/connection: close/i.test(client.responses()[n - 1])) return Date.now() - t0;
  }
}

/** Deno's node:http ends keep-alive connections after the listener closes: no spread there. */
const spreadTest = RUNTIME === "deno" ? test.skip : test;

spreadTest(
  "spread: busy keep-alive connections are told to close over the window, oldest first",
  async () => {
    const { shutdown, port } = await serve();
    const clients = await servedClients(port, 3);
    const t0 = Date.now();
    const draining = shutdown({ timeout: 5000, spread: 600 });
    const closedAt = await Promise.all(clients.map((c) => requestUntilClosed(c, t0)));
    assert.ok(closedAt[0] < 300, `the oldest at ${closedAt[0]} ms`);
    assert.ok(closedAt[1] >= 250 && closedAt[1] < 600, `the second at ${closedAt[1]} ms`);
    assert.ok(closedAt[2] >= 550, `the newest at ${closedAt[2]} ms`);
    for (const c of clients) assert.is(await c.ended, "end");
    assert.equal(await draining, { closed: 3, forced: 0, timedOut: false });
  },
);

spreadTest("spread: idle keep-alive connections are closed over the window too", async () => {
  const { shutdown, port } = await serve(50);
  const clients = await servedClients(port, 2);
  const t0 = Date.now();
  const draining = shutdown({ timeout: 5000, spread: 500 });
  const endedAt = await Promise.all(clients.map(async (c) => [await c.ended, Date.now() - t0]));
  assert.is(endedAt[0][0], "end");
  assert.is(endedAt[1][0], "end");
  assert.ok((endedAt[0][1] as number) < 400, `the oldest at ${endedAt[0][1]} ms`);
  assert.ok((endedAt[1][1] as number) >= 450, `the newest at ${endedAt[1][1]} ms`);
  assert.equal(await draining, { closed: 2, forced: 0, timedOut: false });
});

test("spread: a negative or non-numeric window is a typed error", async () => {
  const { drain, listener } = await serve();
  for (const spread of [-1, Number.NaN, "100" as unknown as number]) {
    try {
      await drain.shutdown({ spread, timeout: 100 });
      assert.unreachable("shutdown accepted the spread");
    } catch (error) {
      assert.is((error as { code?: string }).code, "ERR_INVALID_ARGUMENT");
      assert.match((error as Error).message, /spread must be a non-negative number of ms/);
    }
  }
  // Nothing was started: the listener still accepts and the drain has not begun.
  assert.is(listener.listening, true);
  assert.is(drain.draining, false);
  listener.close();
});

test.run();
