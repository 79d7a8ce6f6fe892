/**
 * `Bun.serve` on the upgrader's listener, at native speed, through the fd
 * transplant (see `transplant.ts`), and `Bun.listen` (raw TCP), which
 * adopts an fd natively.
 *
 * Bun needs no permissions; `bun:ffi` is loaded on first use.
 *
 * @module
 */
import type { Server as NetServer } from "node:net";
import { TableflipError } from "../../src/errors.ts";
import { libc } from "../libc/bun.ts";
import { IPPROTO_TCP, TCP_DEFER_ACCEPT } from "../libc/constants.ts";
import {
  asksClose,
  CloseSchedule,
  drainOnce,
  emit,
  handleFd,
  holdConnections,
  type NativeKind,
  type NativeOptions,
  type NativeShutdownOptions,
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
  inodeOf,
  listeningFdsAt,
  park,
  realAddress,
  registrationsOf,
  socketFds,
  type Transplant,
} from "./transplant.ts";

/** The slice of Bun's `Server` a handler gets as its second argument. */
export interface BunServerLike {
  /** The client's address, as `Bun.Server#requestIP`. */
  requestIP(request: Request): { address: string; port: number; family?: string } | null;
}

/** A `Bun.serve` `fetch` handler. `undefined` means the request was upgraded (WebSocket). */
export type BunFetchHandler<S extends BunServerLike = BunServerLike> = (
  this: S,
  request: Request,
  server: S,
) => Response | Promise<Response> | undefined | Promise<Response | undefined>;

/**
 * Options for {@link serveBun}: those of `Bun.serve` (`fetch`, `error`,
 * `websocket`, `idleTimeout`, `maxRequestBodySize`, ...) minus where to
 * listen (`hostname`, `port`, `unix`, `fd`, `reusePort`) and `tls` (both
 * rejected with `ERR_INVALID_ARGUMENT`), plus {@link NativeOptions}.
 */
export interface BunServeOptions<S extends BunServerLike = BunServerLike> extends NativeOptions {
  fetch: BunFetchHandler<S>;
  error?: (error: Error) => Response | Promise<Response>;
  /**
   * Sets `TCP_DEFER_ACCEPT` on the socket, as `Bun.serve` does on sockets
   * it binds itself (accepts a connection only once it has data). The
   * option stays on the socket in later generations. Default true.
   */
  deferAccept?: boolean;
  /** Anything else is passed on to `Bun.serve`. */
  [option: string]: unknown;
}

/** What {@link serveBun} returns. */
export interface NativeBunServer<S extends BunServerLike = BunServerLike> {
  /** True when `Bun.serve` serves; false on the portable `node:http` fallback. */
  readonly native: boolean;
  /** The real address (from `getsockname`), never the placeholder's. */
  readonly hostname: string;
  readonly port: number;
  /** The `Bun.serve` server (native mode only). */
  readonly server: S | undefined;
  /**
   * Drains without failing requests: stops accepting (the socket stays open
   * for the next generation), answers with `Connection: close` for
   * `closeGrace` ms, then stops gracefully and waits for in-flight requests
   * until `timeout`, when the rest are cut. Also closes the `node:net`
   * listener. Idempotent.
   */
  shutdown(options?: NativeShutdownOptions): Promise<void>;
}

interface BunServer extends BunServerLike {
  port: number;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

interface BunNs {
  serve(options: Record<string, unknown>): BunServer;
  listen(options: Record<string, unknown>): unknown;
}

function bun(): BunNs | undefined {
  return (globalThis as unknown as { Bun?: BunNs }).Bun;
}

function platform(): string {
  return (globalThis as unknown as { process?: { platform?: string } }).process?.platform ?? "";
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Serves with `Bun.serve` on `listener`, the `node:net` server returned by
 * `upgrader.listen("tcp", address)` (called without a handler). Call it
 * right after `listen`, before awaiting anything else.
 *
 * On Bun on Linux, `Bun.serve` itself accepts on the listener's socket
 * (checked by a self-connect probe); otherwise a `node:http` server answers
 * with the same `fetch` (its second argument then only has `requestIP`),
 * and `onEvent` gets a `native-fallback` event. The listener stays
 * registered with the upgrader, which passes the same socket on.
 *
 * Unlike `Bun.serve`, a request with `Connection: close` is answered with
 * `Connection: close` (and the connection closed), as HTTP/1.1 asks.
 * Probe requests (`OPTIONS /.well-known/tableflip-probe` with an
 * `x-tableflip-probe` header) never reach `fetch`.
 *
 * ```ts
 * const listener = await upg.listen("tcp", ":8080");
 * const server = await serveBun(listener, { fetch: () => new Response("hi\n") });
 * await upg.ready();
 * await upg.exit;
 * await server.shutdown();
 * ```
 */
export async function serveBun<S extends BunServerLike = BunServerLike>(
  listener: NetServer,
  options: BunServeOptions<S>,
): Promise<NativeBunServer<S>> {
  const kind: NativeKind = "Bun.serve";
  const address = tcpAddress(listener, kind);
  const { fetch, onEvent, native: wantNative, probeTimeout, deferAccept, ...serveOptions } =
    options;
  for (const unsupported of ["tls", "unix", "fd", "hostname", "port", "reusePort"]) {
    if (serveOptions[unsupported] !== undefined) {
      throw new TableflipError(
        "ERR_INVALID_ARGUMENT",
        `serveBun: option ${unsupported} is not supported (the listener decides where to ` +
          `listen; TLS is not supported on the native path yet)`,
      );
    }
  }
  const remotes = new WeakMap<Request, { address: string; port: number }>();
  const stub = {
    requestIP: (request: Request) => remotes.get(request) ?? null,
  } as unknown as S;
  const portable = portableServer(listener, async (request, remote) => {
    remotes.set(request, { address: remote.hostname, port: remote.port });
    const response = await fetch.call(stub, request, stub);
    return response ?? new Response(null, { status: 500 });
  });
  const fallback = (reason: string, error?: unknown): NativeBunServer<S> => {
    emit(onEvent, { type: "native-fallback", server: kind, reason, error });
    const s = portable.server(address);
    return {
      native: false,
      hostname: address.hostname,
      port: address.port,
      server: undefined,
      shutdown: (opts) => s.shutdown(opts),
    };
  };
  const B = bun();
  if (wantNative === false) return fallback("disabled (options.native is false)");
  if (!B || platform() !== "linux") return fallback("the fd transplant needs Bun on Linux");

  const token = probeToken();
  let seen = false;
  let draining = false;
  const schedule = new CloseSchedule();
  const close = (response: Response | undefined) => response && withClose(response);
  function wrapped(this: S, request: Request, server: S) {
    const probe = probeOf(request);
    if (probe !== null) {
      if (probe === token) seen = true;
      return probeResponse(probe === token);
    }
    const response = fetch.call(server, request, server);
    if (!draining && !asksClose(request)) return response;
    if (!asksClose(request) && !schedule.due(server.requestIP(request)?.port)) return response;
    return response instanceof Promise ? response.then(close) : close(response);
  }
  let server: BunServer;
  try {
    server = B.serve({ ...serveOptions, hostname: "127.0.0.1", port: 0, fetch: wrapped });
  } catch (error) {
    return fallback(`Bun.serve on 127.0.0.1:0 failed: ${(error as Error).message}`, error);
  }
  let t: Transplant;
  try {
    t = await adoptInto(libc, listener, address, server.port, async (moved) => {
      if (deferAccept !== false) libc.setIntOption(moved.fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, 1);
      const ok = await probeUntilSeen(
        probeHost(address),
        address.port,
        token,
        () => seen,
        probeTimeout ?? 3000,
      );
      if (!ok) throw new Error("the self-connect probe never reached Bun.serve");
    });
  } catch (error) {
    await timedOut(Promise.resolve(server.stop(true)), 1000);
    return fallback(`fd transplant failed: ${(error as Error).message}`, error);
  }
  portable.handOver = true;
  const real = realAddress(libc, t.fd, address);
  emit(onEvent, { type: "native-serving", server: kind, fd: t.fd, ...real });

  return {
    native: true,
    hostname: real.hostname,
    port: real.port,
    server: server as unknown as S,
    shutdown: drainOnce(schedule, async (closeIdleAfter, opts) => {
      draining = true;
      let error: unknown;
      try {
        detach(libc, t);
      } catch (e) {
        error = e;
      }
      emit(onEvent, { type: "native-detached", server: kind, fd: t.fd, error });
      const closingPortable = portable.shutdown(opts.timeout);
      await sleep(closeIdleAfter);
      const forced = await timedOut(Promise.resolve(server.stop(false)), opts.timeout ?? 30_000);
      if (forced) await server.stop(true);
      await closingPortable;
      emit(onEvent, { type: "native-drained", server: kind, forced });
    }),
  };
}

/** Options for {@link listenBun}: `Bun.listen`'s `socket` handlers and `data`, plus {@link NativeOptions}. */
export interface ListenBunOptions extends NativeOptions {
  /** `Bun.listen`'s socket handlers (`open`, `data`, `close`, `drain`, `error`, ...). */
  socket: Record<string, unknown>;
  /** Initial `socket.data` of each connection. */
  data?: unknown;
}

/** The slice of Bun's `TCPSocketListener` used here. */
export interface BunTcpListener {
  stop(closeActiveConnections?: boolean): void;
  ref(): void;
  unref(): void;
}

/** What {@link listenBun} returns: the native listener, or why the `node:net` listener must serve. */
export type ListenBunResult =
  | { native: true; listener: BunTcpListener; hostname: string; port: number }
  | { native: false; listener: NetServer; reason: string };

/**
 * `Bun.listen` (raw TCP) on `listener`, the `node:net` server returned by
 * `upgrader.listen("tcp", address)`. No transplant is needed: `Bun.listen`
 * adopts an fd itself (`{fd}`, undocumented); it gets a close-on-exec copy
 * of the socket, and the `node:net` listener is parked (unregistered from
 * its poller) so that only Bun's listener accepts. Checked by Bun's poller
 * registration of the copy. Connections the `node:net` listener accepted
 * before that are relayed to it (they see a loopback peer). On failure, or
 * off Bun/Linux, `{native: false}` hands the `node:net` listener back
 * untouched, after a `native-fallback` event. `stop()` on the returned
 * listener closes this process's copy only; close the `node:net` listener
 * too when done.
 */
export function listenBun(
  listener: NetServer,
  options: ListenBunOptions,
): Promise<ListenBunResult> {
  return Promise.resolve(adoptWithBunListen(listener, options));
}

function adoptWithBunListen(listener: NetServer, options: ListenBunOptions): ListenBunResult {
  const kind: NativeKind = "Bun.listen";
  const address = tcpAddress(listener, kind);
  const held = holdConnections(listener, { host: probeHost(address), port: address.port });
  const fallback = (reason: string, error?: unknown): ListenBunResult => {
    held.released();
    emit(options.onEvent, { type: "native-fallback", server: kind, reason, error });
    return { native: false, listener, reason };
  };
  const B = bun();
  if (options.native === false) return fallback("disabled (options.native is false)");
  if (!B || platform() !== "linux") return fallback("Bun.listen({fd}) needs Bun on Linux");
  let copy: number | undefined;
  let native: BunTcpListener | undefined;
  try {
    libc.load();
    const source = handleFd(listener) ?? listeningFdsAt(libc, address.hostname, address.port)[0];
    if (source === undefined) throw new Error(`no listening fd for ${address.port}`);
    const ino = inodeOf(libc, source);
    if (!ino) throw new Error(`cannot read the inode of fd ${source}`);
    copy = libc.dup(source);
    libc.setCloseOnExec(copy);
    native = B.listen({ fd: copy, socket: options.socket, data: options.data }) as BunTcpListener;
    if (registrationsOf(libc, copy).length === 0) {
      throw new Error(`Bun.listen({fd: ${copy}}) did not register the socket with its poller`);
    }
    for (const fd of socketFds(libc, ino, copy)) park(libc, fd);
  } catch (error) {
    native?.stop(true);
    if (copy !== undefined && !native) libc.close(copy);
    return fallback(`Bun.listen on the listener's fd failed: ${(error as Error).message}`, error);
  }
  held.adopted();
  const real = realAddress(libc, copy, address);
  emit(options.onEvent, { type: "native-serving", server: kind, fd: copy, ...real });
  return { native: true, listener: native, ...real };
}
