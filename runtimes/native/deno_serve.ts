/**
 * `Deno.serve` and `Deno.listen` on the upgrader's listener, at native
 * speed, through the fd transplant (see `transplant.ts`).
 *
 * Permissions: `--allow-net=127.0.0.1` (the placeholder binds 127.0.0.1:0
 * and the probe connects to the listener's address: grant that host too if
 * it is not loopback) and `--allow-ffi=<absolute path of libc>`, e.g.
 * `--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6` (libc calls and
 * `/proc/self/fdinfo` reads go through it). Without them, or off Linux, the
 * portable `node:net` path serves instead and a `native-fallback` event
 * says why.
 *
 * @module
 */
import { connect, type Server as NetServer } from "node:net";
import { libc } from "../libc/deno.ts";
import {
  CloseSchedule,
  drainOnce,
  emit,
  holdConnections,
  type NativeHttpServer,
  type NativeKind,
  type NativeOptions,
  portableServer,
  probeHost,
  probeOf,
  probeResponse,
  probeToken,
  probeUntilSeen,
  tcpAddress,
  timedOut,
  withClose,
} from "./common.ts";
import {
  adoptInto,
  detach,
  placeholderFd,
  realAddress,
  type Transplant,
  transplantCopy,
  unpark,
} from "./transplant.ts";
import { TableflipError } from "../../src/errors.ts";

/** `Deno.NetAddr` for TCP. */
export interface DenoNetAddr {
  transport: "tcp";
  hostname: string;
  port: number;
}

/** The second argument of a `Deno.serve` handler (`Deno.ServeHandlerInfo`). */
export interface DenoServeHandlerInfo {
  remoteAddr: DenoNetAddr;
  completed?: Promise<void>;
}

/** A `Deno.serve` handler (`Deno.ServeHandler`). */
export type DenoServeHandler = (
  request: Request,
  info: DenoServeHandlerInfo,
) => Response | Promise<Response>;

/** Options for {@link serveDeno}. */
export interface DenoServeOptions extends NativeOptions {
  /** As `Deno.serve`'s `onError`: the response for a handler that threw. */
  onError?: (error: unknown) => Response | Promise<Response>;
  /**
   * How many `Deno.serve` servers accept on the socket, in this one process
   * (each has an accept loop of its own; all run the same handler). A busy
   * `Deno.serve` takes in new connections slowly, and more loops take them in
   * sooner (bench/README.md, the storm section). Default 1.
   */
  acceptLoops?: number;
}

/** The slice of `Deno.HttpServer` used here. */
interface DenoHttpServer {
  addr: DenoNetAddr;
  finished: Promise<void>;
  shutdown(): Promise<void>;
}

/** The slice of `Deno.Conn` used here. */
export interface DenoConn {
  readonly remoteAddr: { hostname?: string; port?: number };
  readonly localAddr: unknown;
  close(): void;
}

/** The slice of `Deno.Listener` (TCP) used here. */
export interface DenoListener<C extends DenoConn = DenoConn> extends AsyncIterable<C> {
  readonly addr: unknown;
  accept(): Promise<C>;
  close(): void;
  ref(): void;
  unref(): void;
}

interface DenoNs {
  serve(
    options: {
      hostname: string;
      port: number;
      onListen(): void;
      onError?: (error: unknown) => Response | Promise<Response>;
    },
    handler: DenoServeHandler,
  ): DenoHttpServer;
  listen(options: { hostname: string; port: number; transport: "tcp" }): DenoListener;
  build: { os: string };
}

function deno(): DenoNs | undefined {
  return (globalThis as unknown as { Deno?: DenoNs }).Deno;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Serves `handler` with `Deno.serve` on `listener`, the `node:net` server
 * returned by `upgrader.listen("tcp", address)` (called without a handler).
 * Call it right after `listen`, before awaiting anything else, so no
 * connection is accepted before it takes over.
 *
 * On Linux with the permissions above, `Deno.serve` itself accepts on the
 * listener's socket (checked by a self-connect probe); otherwise a
 * `node:http` server answers with the same handler, and `onEvent` gets a
 * `native-fallback` event. Either way the listener stays registered with
 * the upgrader, which passes the same socket to the next generation.
 *
 * Probe requests (`OPTIONS /.well-known/tableflip-probe` with an
 * `x-tableflip-probe` header) are answered here and never reach `handler`;
 * one may reach the previous generation while it still accepts.
 *
 * ```ts
 * const upg = new Upgrader();
 * const listener = await upg.listen("tcp", ":8080");
 * const server = await serveDeno(listener, () => new Response("hi\n"));
 * await upg.ready();
 * await upg.exit;
 * await server.shutdown();
 * ```
 */
export async function serveDeno(
  listener: NetServer,
  handler: DenoServeHandler,
  options: DenoServeOptions = {},
): Promise<NativeHttpServer> {
  const kind: NativeKind = "Deno.serve";
  const loops = acceptLoopsOf(options.acceptLoops);
  const address = tcpAddress(listener, kind);
  const portable = portableServer(
    listener,
    (request, remote) =>
      Promise.resolve(handler(request, { remoteAddr: { transport: "tcp", ...remote } })),
  );
  const fallback = (reason: string, error?: unknown): NativeHttpServer => {
    emit(options.onEvent, { type: "native-fallback", server: kind, reason, error });
    return portable.server(address);
  };
  const D = deno();
  if (options.native === false) return fallback("disabled (options.native is false)");
  if (!D || D.build.os !== "linux") return fallback("the fd transplant needs Deno on Linux");

  const token = probeToken();
  let seen = false;
  let draining = false;
  const schedule = new CloseSchedule();
  const wrapped: DenoServeHandler = (request, info) => {
    const probe = probeOf(request);
    if (probe !== null) {
      if (probe === token) seen = true;
      return probeResponse(probe === token);
    }
    if (!draining || !schedule.due(info.remoteAddr.port)) return handler(request, info);
    return Promise.resolve(handler(request, info)).then(withClose);
  };
  const servers: DenoHttpServer[] = [];
  const shutdownAll = () => Promise.all(servers.map((s) => s.shutdown())).then(() => {});
  try {
    for (let i = 0; i < loops; i++) {
      servers.push(D.serve(
        { hostname: "127.0.0.1", port: 0, onListen() {}, onError: options.onError },
        wrapped,
      ));
    }
  } catch (error) {
    await timedOut(shutdownAll(), 1000);
    return fallback(`Deno.serve on 127.0.0.1:0 failed: ${(error as Error).message}`, error);
  }
  const moved: Transplant[] = [];
  try {
    moved.push(
      await adoptInto(libc, listener, address, servers[0].addr.port, async () => {
        const ok = await probeUntilSeen(
          probeHost(address),
          address.port,
          token,
          () => seen,
          options.probeTimeout ?? 3000,
        );
        if (!ok) throw new Error("the self-connect probe never reached Deno.serve");
      }),
    );
    for (const extra of servers.slice(1)) {
      moved.push(transplantCopy(libc, moved[0], placeholderFd(libc, extra.addr.port)));
    }
  } catch (error) {
    // adoptInto undoes its own failure; a copy's failure leaves the first
    // transplant in place: undo it too, so the node:net listener accepts again.
    for (const t of moved) detach(libc, t);
    if (moved[0]) unpark(libc, moved[0]);
    await timedOut(shutdownAll(), 1000);
    return fallback(`fd transplant failed: ${(error as Error).message}`, error);
  }
  portable.handOver = true;
  const fd = moved[0].fd;
  const real = realAddress(libc, fd, address);
  emit(options.onEvent, { type: "native-serving", server: kind, fd, ...real });

  return {
    native: true,
    addr: { transport: "tcp", ...real },
    finished: Promise.all(servers.map((s) => s.finished)).then(() => {}),
    shutdown: drainOnce(schedule, async (closeIdleAfter, opts) => {
      draining = true;
      let error: unknown;
      for (const t of moved) {
        try {
          detach(libc, t);
        } catch (e) {
          error ??= e;
        }
      }
      emit(options.onEvent, { type: "native-detached", server: kind, fd, error });
      const closingPortable = portable.shutdown(opts.timeout);
      await sleep(closeIdleAfter);
      const forced = await timedOut(shutdownAll(), opts.timeout ?? 30_000);
      await closingPortable;
      emit(options.onEvent, { type: "native-drained", server: kind, forced });
    }),
  };
}

/** `acceptLoops` as given (default 1); throws a typed error unless it is a whole number from 1 to 64. */
function acceptLoopsOf(loops: number | undefined): number {
  if (loops === undefined) return 1;
  if (Number.isInteger(loops) && loops >= 1 && loops <= 64) return loops;
  throw new TableflipError(
    "ERR_INVALID_ARGUMENT",
    `acceptLoops must be a whole number from 1 to 64, got ${String(loops)}`,
  );
}

/** A `Deno.Listener` on the upgrader's listener; see {@link listenDeno}. */
export interface NativeDenoListener<C extends DenoConn = DenoConn> extends DenoListener<C> {
  /** The real address, from `getsockname` (not the placeholder's). */
  readonly addr: DenoNetAddr;
}

/** What {@link listenDeno} returns: the native listener, or why the `node:net` listener must serve. */
export type ListenDenoResult =
  | { native: true; listener: NativeDenoListener }
  | { native: false; listener: NetServer; reason: string };

/**
 * A `Deno.Listener` (raw TCP) on `listener`, the `node:net` server returned
 * by `upgrader.listen("tcp", address)`. Same permissions and probe idea as
 * {@link serveDeno}, with a bare connect as the probe. On failure, or off
 * Deno/Linux, `{native: false}` returns the `node:net` listener untouched
 * (it keeps accepting: serve it with `node:net`), after a `native-fallback`
 * event. `close()` closes this process's copies of the socket, not the socket
 * the next generation holds.
 */
export async function listenDeno(
  listener: NetServer,
  options: NativeOptions = {},
): Promise<ListenDenoResult> {
  const kind: NativeKind = "Deno.listen";
  const address = tcpAddress(listener, kind);
  // Connections the node:net listener accepts before it is parked are relayed
  // to the native listener on success, handed back on fallback.
  const held = holdConnections(listener, { host: probeHost(address), port: address.port });
  const fallback = (reason: string, error?: unknown): ListenDenoResult => {
    held.released();
    emit(options.onEvent, { type: "native-fallback", server: kind, reason, error });
    return { native: false, listener, reason };
  };
  const D = deno();
  if (options.native === false) return fallback("disabled (options.native is false)");
  if (!D || D.build.os !== "linux") return fallback("the fd transplant needs Deno on Linux");
  let inner: DenoListener;
  try {
    inner = D.listen({ hostname: "127.0.0.1", port: 0, transport: "tcp" });
  } catch (error) {
    return fallback(`Deno.listen on 127.0.0.1:0 failed: ${(error as Error).message}`, error);
  }
  // Accepted connections wait here until someone takes them, so a probe that
  // gives up on an accept in flight loses nothing.
  const queue: DenoConn[] = [];
  let pending: Promise<void> | undefined;
  const pull = () =>
    pending ??= inner.accept().then((conn) => {
      queue.push(conn);
    }).finally(() => pending = undefined);
  let t: Transplant;
  try {
    t = await adoptInto(
      libc,
      listener,
      address,
      (inner.addr as DenoNetAddr).port,
      () => probeAccept(probeHost(address), address.port, pull, queue, options.probeTimeout),
    );
  } catch (error) {
    pending?.catch(() => {});
    for (const conn of queue.splice(0)) conn.close();
    inner.close();
    return fallback(`fd transplant failed: ${(error as Error).message}`, error);
  }
  held.adopted();
  const real = realAddress(libc, t.fd, address);
  emit(options.onEvent, { type: "native-serving", server: kind, fd: t.fd, ...real });
  const addr: DenoNetAddr = { transport: "tcp", ...real };
  const accept = async (): Promise<DenoConn> => {
    while (queue.length === 0) await pull();
    return queue.shift()!;
  };
  const native: NativeDenoListener = {
    addr,
    accept,
    close() {
      pending?.catch(() => {});
      for (const conn of queue.splice(0)) conn.close();
      inner.close();
      listener.close();
    },
    ref: () => inner.ref(),
    unref: () => inner.unref(),
    async *[Symbol.asyncIterator]() {
      for (;;) {
        try {
          yield await accept();
        } catch (error) {
          const name = (error as Error).name;
          if (name === "BadResource" || name === "Interrupted") return;
          throw error;
        }
      }
    },
  };
  return { native: true, listener: native };
}

/**
 * Connects to the listener until this process accepts one of the probe
 * connections (told apart by the client's port); other connections are
 * queued for the application.
 */
async function probeAccept(
  host: string,
  port: number,
  pull: () => Promise<void>,
  queue: DenoConn[],
  limit = 3000,
): Promise<void> {
  const end = Date.now() + limit;
  while (Date.now() < end) {
    const client = connect({ host, port });
    const local = await new Promise<number | undefined>((resolve) => {
      client.once("connect", () => resolve(client.localPort));
      client.once("error", () => resolve(undefined));
    });
    if (local !== undefined) {
      const until = Date.now() + Math.min(500, Math.max(1, end - Date.now()));
      while (Date.now() < until) {
        const at = queue.findIndex((conn) => conn.remoteAddr.port === local);
        if (at >= 0) {
          queue.splice(at, 1)[0].close();
          client.destroy();
          return;
        }
        if (await timedOut(pull(), until - Date.now())) break;
      }
    }
    client.destroy();
  }
  throw new Error("the self-connect probe never reached Deno.listen");
}
