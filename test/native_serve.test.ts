// Native servers (Deno.serve, Deno.listen, Bun.serve) on a node:net
// listener's socket through the fd transplant, in this process: real
// sockets, real runtime servers. Bun and Deno only.
import { test } from "uvu";
import * as assert from "uvu/assert";
import net from "node:net";
import { get, probe, RUNTIME } from "./_helpers.ts";
import { listenBun, listenDeno, type NativeEvent, serveBun, serveDeno } from "../native.ts";
import { closeShare, type NativeShutdownOptions } from "../runtimes/native/common.ts";
import { listeningFdsAt, parseEpollInfo } from "../runtimes/native/transplant.ts";

const IS_DENO = "Deno" in globalThis;
const IS_BUN = "Bun" in globalThis;

/** A listening node:net server, as `Upgrader#listen("tcp", "127.0.0.1:0")` returns it. */
async function listener(): Promise<{ ln: net.Server; port: number; accepted: () => number }> {
  const ln = net.createServer();
  await new Promise<void>((resolve) => ln.listen({ port: 0, host: "127.0.0.1" }, resolve));
  let count = 0;
  ln.on("connection", () => count++);
  return { ln, port: (ln.address() as net.AddressInfo).port, accepted: () => count };
}

/** Sends a request with `Connection: close`; resolves with the response's Connection header once the server closed. */
function closeAnswer(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ port, host: "127.0.0.1" }, () => {
      c.write("GET /close HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    });
    let text = "";
    c.on("data", (d) => text += d);
    c.on(
      "end",
      () => resolve(/^connection:\s*(\S+)\r?$/im.exec(text)?.[1].toLowerCase() ?? "none"),
    );
    c.on("error", reject);
    c.setTimeout(5000, () => c.destroy(new Error("the server did not close the connection")));
  });
}

/** serveDeno or serveBun, whichever this runtime has, behind one shape. */
async function serve(ln: net.Server, native: boolean, events: NativeEvent[]) {
  const onEvent = (e: NativeEvent) => events.push(e);
  if (IS_BUN) {
    const s = await serveBun(ln, {
      fetch: (req, server) =>
        new Response(
          JSON.stringify({ path: new URL(req.url).pathname, ip: server.requestIP(req) }),
        ),
      native,
      onEvent,
    });
    return {
      native: s.native,
      port: s.port,
      shutdown: (opts: NativeShutdownOptions = { closeGrace: 50 }) => s.shutdown(opts),
    };
  }
  const s = await serveDeno(
    ln,
    (req, info) =>
      new Response(
        JSON.stringify({ path: new URL(req.url).pathname, ip: { port: info.remoteAddr.port } }),
      ),
    { native, onEvent },
  );
  return {
    native: s.native,
    port: s.addr.port,
    shutdown: (opts: NativeShutdownOptions = { closeGrace: 50 }) => s.shutdown(opts),
  };
}

if (!IS_DENO && !IS_BUN) {
  console.log(`native_serve: not registered on ${RUNTIME}: native servers are Bun and Deno only`);
} else {
  test("the runtime's own server accepts on the listener's socket; node:net accepts nothing", async () => {
    const { ln, port, accepted } = await listener();
    const events: NativeEvent[] = [];
    const s = await serve(ln, true, events);
    try {
      assert.is(s.native, true);
      assert.is(s.port, port, "reports the real port, not the placeholder's");
      const serving = events.find((e) => e.type === "native-serving");
      assert.ok(serving, JSON.stringify(events));
      assert.is((serving as { port: number }).port, port);
      const keepAlive = new (await import("node:http")).Agent({ keepAlive: true, maxSockets: 2 });
      for (let i = 0; i < 50; i++) {
        const a = await get({ port }, `/k${i}`, keepAlive);
        const b = await get({ port }, `/c${i}`);
        assert.is(a.status, 200);
        assert.is(JSON.parse(a.body).path, `/k${i}`);
        assert.is(JSON.parse(b.body).path, `/c${i}`);
        assert.ok(JSON.parse(b.body).ip.port > 0, "the handler sees the client's address");
      }
      keepAlive.destroy();
      assert.is(
        await closeAnswer(port),
        "close",
        "a request asking to close gets Connection: close",
      );
      assert.is(accepted(), 0, "the parked node:net listener accepted a connection");
    } finally {
      await s.shutdown();
    }
    assert.is(ln.listening, false, "shutdown closes the node:net listener too");
    assert.is(await probe(port), "ECONNREFUSED", "no copy of the socket is left open");
  });

  test("native: false serves the same handler through node:http and says so", async () => {
    const { ln, port, accepted } = await listener();
    const events: NativeEvent[] = [];
    const s = await serve(ln, false, events);
    try {
      assert.is(s.native, false);
      assert.is(s.port, port);
      assert.equal(events.map((e) => e.type), ["native-fallback"]);
      // Keep-alive connections survive on the fallback path too (Deno's node:http
      // resets them after async responses on sockets fed by emit("connection")).
      const keepAlive = new (await import("node:http")).Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < 20; i++) {
        const res = await get({ port }, `/x${i}`, keepAlive);
        assert.is(JSON.parse(res.body).path, `/x${i}`);
      }
      keepAlive.destroy();
      assert.is(await closeAnswer(port), "close");
      // Bun and Node feed the http server from the listener's "connection" events;
      // on Deno the http server shares the listener's handle instead.
      if (!IS_DENO) assert.ok(accepted() > 0, "the node:net listener feeds the fallback path");
    } finally {
      await s.shutdown();
    }
    assert.is(await probe(port), "ECONNREFUSED");
  });

  test("drain: stops accepting without closing the socket other processes hold", async () => {
    const { ln, port } = await listener();
    // Another holder of the same socket, as the next generation would be.
    const { libc } = IS_BUN
      ? await import("../runtimes/libc/bun.ts")
      : await import("../runtimes/libc/deno.ts");
    const fd = listeningFdsAt(libc, "127.0.0.1", port)[0];
    assert.type(fd, "number");
    const events: NativeEvent[] = [];
    const s = await serve(ln, true, events);
    const other = net.createServer((c) => c.end("other\n"));
    await new Promise<void>((resolve) => other.listen({ fd: libc.dup(fd) }, resolve));
    await s.shutdown();
    assert.ok(events.some((e) => e.type === "native-detached"));
    assert.ok(events.some((e) => e.type === "native-drained"));
    {
      const text = await readAll(port);
      assert.is(text, "other\n", "the socket is still open and served by its other holder");
      await new Promise((resolve) => other.close(resolve));
    }
    assert.is(await probe(port), "ECONNREFUSED");
  });

  test("drain: with spread, each keep-alive connection is told to close at its own moment in the window", async () => {
    const { ln, port } = await listener();
    const s = await serve(ln, true, []);
    assert.is(s.native, true);
    try {
      await s.shutdown({ spread: -1 });
      assert.unreachable("shutdown accepted a negative spread");
    } catch (error) {
      assert.is((error as { code?: string }).code, "ERR_INVALID_ARGUMENT");
      assert.match((error as Error).message, /spread must be a non-negative number of ms/);
    }
    const clients = await Promise.all(Array.from({ length: 4 }, () => keepAliveClient(port)));
    const spread = 800;
    const t0 = Date.now();
    const draining = s.shutdown({ closeGrace: 50, spread });
    const closedAt = await Promise.all(clients.map((c) => c.requestUntilClosed(t0)));
    for (const [i, c] of clients.entries()) {
      const due = spread * closeShare(c.port);
      assert.ok(
        closedAt[i] >= due - 20 && closedAt[i] < due + 400,
        `client ${i} (port ${c.port}) told at ${closedAt[i]} ms, due at ${due.toFixed(0)} ms`,
      );
    }
    await draining;
    assert.ok(Date.now() - t0 >= spread, "idle connections are closed only after the window");
    assert.is(await probe(port), "ECONNREFUSED");
  });

  test("drain: a keep-alive client that asks again 1 s into the drain is told to close on a response, not closed idle (closeGrace 2 s by default)", async () => {
    const { ln, port } = await listener();
    const s = await serve(ln, true, []);
    assert.is(s.native, true);
    const client = await keepAliveClient(port);
    const draining = s.shutdown({});
    // The client's think time between two requests, not a wait for an event: with
    // the old default closeGrace (500 ms) its idle connection was closed before it asked.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.match(await client.second(), /^connection:\s*close\r?$/im);
    await draining;
    assert.is(await probe(port), "ECONNREFUSED");
  });

  if (IS_BUN) {
    test("listenBun: Bun.listen on the listener's socket, node:net parked, real address", async () => {
      const { ln, port, accepted } = await listener();
      const events: NativeEvent[] = [];
      const result = await listenBun(ln, {
        socket: {
          open(socket: { end(text: string): void }) {
            socket.end("hello from Bun.listen\n");
          },
          data() {},
        },
        onEvent: (e) => events.push(e),
      });
      assert.is(result.native, true, JSON.stringify(events));
      if (!result.native) return;
      assert.is(result.port, port);
      for (let i = 0; i < 20; i++) {
        const text = await readAll(port);
        assert.is(text, "hello from Bun.listen\n");
      }
      assert.is(accepted(), 0);
      result.listener.stop(true);
      await new Promise((resolve) => ln.close(resolve));
      assert.is(await probe(port), "ECONNREFUSED");
    });
  }

  if (IS_DENO) {
    test("listenDeno: a Deno.Listener on the listener's socket, with the real address", async () => {
      const { ln, port, accepted } = await listener();
      const events: NativeEvent[] = [];
      const result = await listenDeno(ln, { onEvent: (e) => events.push(e) });
      assert.is(result.native, true, JSON.stringify(events));
      if (!result.native) return;
      const native = result.listener;
      assert.is(native.addr.port, port);
      const serving = (async () => {
        for await (const conn of native) {
          const c = conn as unknown as {
            write(b: Uint8Array): Promise<number>;
            close(): void;
          };
          await c.write(new TextEncoder().encode("hello from Deno.listen\n"));
          c.close();
        }
      })();
      for (let i = 0; i < 20; i++) {
        const text = await readAll(port);
        assert.is(text, "hello from Deno.listen\n");
      }
      assert.is(accepted(), 0);
      native.close();
      await serving;
      assert.is(await probe(port), "ECONNREFUSED");
    });

    test("Deno.serve with acceptLoops: 4 servers accept on the one socket; the drain detaches every one", async () => {
      const { ln, port, accepted } = await listener();
      const { libc } = await import("../runtimes/libc/deno.ts");
      const fd = listeningFdsAt(libc, "127.0.0.1", port)[0];
      const events: NativeEvent[] = [];
      const s = await serveDeno(ln, () => new Response("loops\n"), {
        acceptLoops: 4,
        onEvent: (e) => events.push(e),
      });
      assert.is(s.native, true, JSON.stringify(events));
      // The node:net listener's fd (parked) and one per Deno.serve.
      assert.is(listeningFdsAt(libc, "127.0.0.1", port).length, 5);
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => get({ port }, `/l${i}`)),
      );
      assert.ok(answers.every((a) => a.status === 200 && a.body === "loops\n"));
      assert.is(accepted(), 0, "the parked node:net listener accepted a connection");
      // Another holder of the socket, as the next generation: after the drain it gets everything.
      const other = net.createServer((c) => c.end("other\n"));
      await new Promise<void>((resolve) => other.listen({ fd: libc.dup(fd) }, resolve));
      await s.shutdown({ closeGrace: 50 });
      for (let i = 0; i < 20; i++) assert.is(await readAll(port), "other\n");
      await new Promise((resolve) => other.close(resolve));
      assert.is(await probe(port), "ECONNREFUSED", "no copy of the socket is left open");
    });

    test("Deno.serve: acceptLoops that is not a whole number from 1 to 64 is a typed error", async () => {
      const { ln } = await listener();
      try {
        for (const bad of [0, 1.5, 65, Number.NaN]) {
          const error = await serveDeno(ln, () => new Response(""), { acceptLoops: bad }).then(
            () => undefined,
            (e) => e,
          );
          assert.is(error?.code, "ERR_INVALID_ARGUMENT", String(bad));
          assert.match(error.message, /acceptLoops/);
        }
        assert.ok(ln.listening, "the listener is untouched");
      } finally {
        await new Promise((resolve) => ln.close(resolve));
      }
    });
  }
}

test("parses eventpoll fdinfo: one watch per line, data in hex, the watched inode", () => {
  const text = "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1038\n" +
    "tfd:       21 events: 8000201d data:     557c57258700  pos:0 ino:3a13 sdev:9\n" +
    "tfd:        8 events:       19 data:                1  pos:0 ino:3a0f sdev:9\n";
  assert.equal(parseEpollInfo(5, text), {
    epfd: 5,
    ino: "1038",
    watches: [
      { tfd: 21, events: 0x8000201d, data: 0x557c57258700n, ino: "3a13" },
      { tfd: 8, events: 0x19, data: 1n, ino: "3a0f" },
    ],
  });
  assert.is(parseEpollInfo(3, "pos:\t0\nflags:\t02\nino:\t77\n"), undefined, "no watches");
});

test.run();

/** Connects to 127.0.0.1:`port` and resolves with everything read until the server ends. */
function readAll(port: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const c = net.connect({ port, host: "127.0.0.1" });
    let out = "";
    c.on("data", (d) => out += d);
    c.on("end", () => resolve(out));
    c.on("error", reject);
  });
}

/**
 * A raw keep-alive HTTP/1.1 client on 127.0.0.1:`port`, answered once;
 * `requestUntilClosed(t0)` keeps sending requests, each after the last
 * answer, and resolves with the ms since `t0` of the first answer that said
 * `Connection: close`.
 */
async function keepAliveClient(port: number) {
  const socket = net.connect({ port, host: "127.0.0.1" });
  socket.setEncoding("utf8");
  let data = "";
  let failure: Error | undefined;
  let wake = () => {};
  socket.on("data", (d) => {
    data += d;
    wake();
  });
  socket.on("error", (error) => {
    failure = error;
    wake();
  });
  socket.on("close", () => {
    failure ??= new Error("the server closed the connection before telling it to close");
    wake();
  });
  await new Promise((resolve) => socket.once("connect", resolve));
  const answers = () => data.split("HTTP/1.1 ").slice(1);
  const request = async (n: number) => {
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    while (answers().length < n) {
      if (failure) throw failure;
      await new Promise<void>((resolve) => wake = resolve);
    }
    return answers()[n - 1];
  };
  await request(1);
  return {
    port: socket.localPort as number,
    /** The answer to a second request (throws if the server closed the connection first). */
    second: () => request(2),
    async requestUntilClosed(t0: number): Promise<number> {
      for (let n = 2;; n++) {
        if (/^connection:\s*close/im.test(await request(n))) {
          socket.end();
          return Date.now() - t0;
        }
      }
    },
  };
}
