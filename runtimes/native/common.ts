/**
 * What the native servers share: events, the listener's address, the
 * self-connect probe, `Connection: close` handling and the portable
 * `node:http` fallback for fetch-style handlers.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, Server as NetServer, type Socket } from "node:net";
import { Readable } from "node:stream";
import { TableflipError } from "../../src/errors.ts";
import { HttpDrain } from "../../src/http_drain.ts";

/** Which native API serves a listener. */
export type NativeKind = "Deno.serve" | "Deno.listen" | "Bun.serve" | "Bun.listen";

/** What the native entry points report. */
export type NativeEvent =
  /** The runtime's own server now accepts on the listener's socket (probe passed). */
  | { type: "native-serving"; server: NativeKind; fd: number; hostname: string; port: number }
  /** The native path failed or does not apply: the portable `node:net` path serves instead. */
  | { type: "native-fallback"; server: NativeKind; reason: string; error?: unknown }
  /**
   * Drain started: the native server stopped accepting (the socket stays open
   * for the next generation). With `error`, detaching failed: the runtime's
   * shutdown then closes this process's copy of the socket itself.
   */
  | { type: "native-detached"; server: NativeKind; fd: number; error?: unknown }
  /** Drain finished. */
  | { type: "native-drained"; server: NativeKind; forced: boolean };

/**
 * Relays a connection the parked `node:net` listener accepted to the
 * listener's address again, where the native listener (or another process
 * holding the socket) accepts it. The server then sees a loopback peer.
 */
export function relay(socket: Socket, target: { host: string; port: number }): void {
  const upstream = connect(target);
  const end = () => {
    socket.destroy();
    upstream.destroy();
  };
  socket.pipe(upstream).pipe(socket);
  for (const s of [socket, upstream]) {
    s.once("error", end);
    s.once("close", end);
  }
}

/**
 * Holds the connections a `node:net` listener accepts while a native
 * listener takes over: `adopted()` relays them (and any later one) to the
 * native side; `released()` hands them back to the listener's own
 * "connection" handlers, on the next tick.
 */
export function holdConnections(listener: NetServer, target: { host: string; port: number }): {
  adopted(): void;
  released(): void;
} {
  const held: Socket[] = [];
  const hold = (socket: Socket) => void held.push(socket);
  listener.on("connection", hold);
  return {
    adopted() {
      listener.off("connection", hold);
      for (const socket of held.splice(0)) relay(socket, target);
      listener.on("connection", (socket: Socket) => relay(socket, target));
    },
    released() {
      listener.off("connection", hold);
      setTimeout(() => {
        for (const socket of held.splice(0)) listener.emit("connection", socket);
      });
    },
  };
}

/** Options every native entry point takes. */
export interface NativeOptions {
  /** Receives {@link NativeEvent}s (fallbacks included). Exceptions thrown by it are ignored. */
  onEvent?: (event: NativeEvent) => void;
  /**
   * `false` skips the transplant and uses the portable `node:net` path from
   * the start (a `native-fallback` event says so). Default `true`.
   */
  native?: boolean;
  /** How long the self-connect probe may take before the native path is given up, in ms. Default 3000. */
  probeTimeout?: number;
}

/**
 * The native drains' default `closeGrace`, in ms. A client that asks less
 * often than this may still find its idle connection closed as it sends, as
 * with `HttpDrain`'s `idleGrace` (also 2 s): 500 ms, the default before,
 * failed 28 requests (`closed-without-reply`) in an upgrade of `Deno.serve`
 * under 10,000 clients asking once a second (`bench/storm_bench.mjs --load
 * rate`), the clients whose turn had not come yet.
 */
const CLOSE_GRACE_MS = 2000;

/** Options for draining a native HTTP server. */
export interface NativeShutdownOptions {
  /**
   * How long every response carries `Connection: close` before idle
   * keep-alive connections are closed, in ms, so that keep-alive clients
   * learn from a response that the connection ends instead of having it
   * closed under a request they are just sending. Default 2000
   * ({@link CLOSE_GRACE_MS}), as `HttpDrain`'s `idleGrace`.
   */
  closeGrace?: number;
  /** Deadline for in-flight requests, in ms; the rest are cut then. Default 30 000. */
  timeout?: number;
  /**
   * Ask keep-alive connections to close over this many ms instead of all at
   * once (default 0), so their clients reconnect to the new generation in a
   * stream rather than in one burst: each connection's responses carry
   * `Connection: close` from a moment in the window picked from its client
   * port, and idle connections are closed `closeGrace` ms after the window.
   * At most `timeout`.
   */
  spread?: number;
}

/**
 * When the connections of a draining native server are told to close: from
 * `start()` on, each at its own moment within the `spread` window, picked
 * from its client port (a multiplicative hash spreads neighbouring ports
 * over the window).
 */
export class CloseSchedule {
  #from = Number.POSITIVE_INFINITY;
  #spread = 0;

  /** Starts the drain with `options.spread` (checked; at most the timeout); returns the window in ms. */
  start(options: NativeShutdownOptions): number {
    const spread = options.spread ?? 0;
    if (typeof spread !== "number" || !Number.isFinite(spread) || spread < 0) {
      throw new TableflipError(
        "ERR_INVALID_ARGUMENT",
        `spread must be a non-negative number of ms, got ${String(spread)}`,
      );
    }
    this.#spread = Math.min(spread, options.timeout ?? 30_000);
    this.#from = Date.now();
    return this.#spread;
  }

  /** Whether the response to a request from client port `port` should say `Connection: close`. */
  due(port: number | undefined): boolean {
    const now = Date.now();
    if (now < this.#from) return false;
    if (port === undefined || this.#spread === 0) return true;
    return now >= this.#from + this.#spread * closeShare(port);
  }
}

/**
 * A native server's `shutdown`: the first call checks its options, starts
 * the close schedule and runs `run` with how long from now idle connections
 * are to be left open (the spread window, then `closeGrace`, default
 * {@link CLOSE_GRACE_MS}); later calls return the same promise. A bad option
 * rejects and starts nothing.
 */
export function drainOnce(
  schedule: CloseSchedule,
  run: (closeIdleAfter: number, options: NativeShutdownOptions) => Promise<void>,
): (options?: NativeShutdownOptions) => Promise<void> {
  let shutting: Promise<void> | undefined;
  return (options = {}) => {
    if (shutting) return shutting;
    let spread: number;
    try {
      spread = schedule.start(options);
    } catch (error) {
      return Promise.reject(error);
    }
    return shutting = run(spread + (options.closeGrace ?? CLOSE_GRACE_MS), options);
  };
}

/** Where in the spread window (0 to 1) the connection from client port `port` is told to close. */
export function closeShare(port: number): number {
  return (Math.imul(port, 0x9e3779b1) >>> 0) / 2 ** 32;
}

/** A listener's address, as the fd transplant and the probe need it. */
export interface ListenerAddress {
  hostname: string;
  port: number;
  family: "IPv4" | "IPv6";
}

/** The TCP address a `node:net` server listens on; throws for unix sockets or a closed server. */
export function tcpAddress(listener: NetServer, what: NativeKind): ListenerAddress {
  const a = listener.address();
  if (!a || typeof a !== "object" || !a.port) {
    throw new TableflipError(
      "ERR_INVALID_ARGUMENT",
      `${what}: the listener is not a listening TCP server (unix sockets are not supported)`,
    );
  }
  return { hostname: a.address, port: a.port, family: a.family === "IPv6" ? "IPv6" : "IPv4" };
}

/** The fd a `node:net` server owns, when the runtime exposes it (Node, Bun); otherwise undefined. */
export function handleFd(listener: NetServer): number | undefined {
  const fd = (listener as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

/** Where to connect to reach a listener from this host. */
export function probeHost(a: ListenerAddress): string {
  if (a.hostname === "0.0.0.0") return "127.0.0.1";
  if (a.hostname === "::") return "::1";
  return a.hostname;
}

/** The header that marks a probe request, with the prober's token as value. */
export const PROBE_HEADER = "x-tableflip-probe";

/** The method of a probe request: checked first, so other requests never pay for a header lookup. */
export const PROBE_METHOD = "OPTIONS";

/** The probe token a request carries, or null for every request that is not a probe. */
export function probeOf(request: Request): string | null {
  return request.method === PROBE_METHOD ? request.headers.get(PROBE_HEADER) : null;
}

/** Waits for `promise` at most `ms` ms (the timer does not keep the process alive after); true if the time ran out. */
export async function timedOut(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise.then(() => false),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Calls `hook` with `event`, ignoring what it throws. */
export function emit(hook: NativeOptions["onEvent"], event: NativeEvent): void {
  try {
    hook?.(event);
  } catch {
    // A broken logger must not break serving.
  }
}

/** A random token for one probe run. */
export function probeToken(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Sends one HTTP probe request over a fresh connection and resolves when it
 * ended (answered, refused, or `limit` ms passed) with whether it connected;
 * never rejects.
 */
export function sendProbe(
  host: string,
  port: number,
  token: string,
  limit: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    let connected = false;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(connected);
    };
    const timer = setTimeout(done, limit);
    const socket: Socket = connect({ host, port }, () => {
      connected = true;
      socket.write(
        `${PROBE_METHOD} /.well-known/tableflip-probe HTTP/1.1\r\n` +
          `Host: ${host.includes(":") ? `[${host}]` : host}\r\n` +
          `${PROBE_HEADER}: ${token}\r\nConnection: close\r\n\r\n`,
      );
    });
    socket.on("data", () => {});
    socket.once("end", done);
    socket.once("close", done);
    socket.once("error", done);
  });
}

/**
 * Probes until `seen()` says this process's native server got one of the
 * probes (other processes sharing the socket, such as the previous
 * generation, may take some), or `limit` ms passed. Resolves true when seen.
 * A wildcard IPv6 listener is probed on `::1`, or on 127.0.0.1 where `::1`
 * is unreachable.
 */
export async function probeUntilSeen(
  host: string,
  port: number,
  token: string,
  seen: () => boolean,
  limit: number,
): Promise<boolean> {
  const end = Date.now() + limit;
  while (!seen() && Date.now() < end) {
    const limitOne = Math.max(1, Math.min(1000, end - Date.now()));
    if (!await sendProbe(host, port, token, limitOne) && host === "::1") host = "127.0.0.1";
  }
  return seen();
}

/** The answer a native server gives to a probe: 204 for its own token, 421 for another process's. */
export function probeResponse(mine: boolean): Response {
  return new Response(null, { status: mine ? 204 : 421, headers: { connection: "close" } });
}

/** Whether a request asks to close the connection after its response. */
export function asksClose(request: Request): boolean {
  const value = request.headers.get("connection");
  return value !== null && /(^|,)\s*close\s*(,|$)/i.test(value);
}

/** Returns `response` with `Connection: close`, copying it if its headers are immutable. */
export function withClose(response: Response): Response {
  try {
    response.headers.set("connection", "close");
    return response;
  } catch {
    const copy = new Response(response.body, response);
    copy.headers.set("connection", "close");
    return copy;
  }
}

/** A fetch-style handler: what `Deno.serve` and `Bun.serve` call. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/**
 * The portable path: an `http.Server` that answers with a fetch-style
 * handler. Feed it the listener's connections with `emit("connection")`.
 */
export function fetchServer(
  handler: (request: Request, remote: { hostname: string; port: number }) => Promise<Response>,
  closeEach: () => boolean = () => false,
): Server {
  return createServer((req, res) => {
    if (closeEach()) res.setHeader("connection", "close");
    serveOne(handler, req, res).catch((error) => {
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end("Internal Server Error\n");
      } else {
        res.destroy(error as Error);
      }
    });
  });
}

async function serveOne(
  handler: (request: Request, remote: { hostname: string; port: number }) => Promise<Response>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const host = req.headers.host ?? "localhost";
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  const controller = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) controller.abort();
  });
  const request = new Request(`http://${host}${req.url ?? "/"}`, {
    method: req.method,
    headers,
    body: hasBody ? Readable.toWeb(req) as ReadableStream<Uint8Array> : undefined,
    signal: controller.signal,
    ...(hasBody ? { duplex: "half" } : {}),
  } as RequestInit);
  const response = await handler(request, {
    hostname: req.socket.remoteAddress ?? "",
    port: req.socket.remotePort ?? 0,
  });
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  const cookies = response.headers.getSetCookie?.() ?? [];
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") res.setHeader(name, value);
  });
  if (cookies.length) res.setHeader("set-cookie", cookies);
  if (!response.body || req.method === "HEAD") {
    res.end();
    return;
  }
  // A body of one chunk goes out with a Content-Length: Deno's node:http
  // breaks keep-alive after a chunked response on a socket fed by "connection".
  const reader = response.body.getReader();
  const first = await reader.read();
  if (first.done) return void res.end();
  const second = await reader.read();
  if (second.done) return void res.end(first.value);
  res.write(first.value);
  let chunk: ReadableStreamReadResult<Uint8Array> = second;
  while (!chunk.done) {
    if (!res.write(chunk.value)) await new Promise((resolve) => res.once("drain", resolve));
    chunk = await reader.read();
  }
  res.end();
}

/** What `serveDeno` returns: `Deno.HttpServer`'s useful part, plus the drain. */
export interface NativeHttpServer {
  /** True when the runtime's native server serves; false on the portable fallback. */
  readonly native: boolean;
  /** The real address (from `getsockname` on the listener's socket), never the placeholder's. */
  readonly addr: { transport: "tcp"; hostname: string; port: number };
  /** Settles when the server has shut down. */
  readonly finished: Promise<void>;
  /**
   * Drains without failing requests: stops accepting (the socket stays open
   * for the next generation), answers with `Connection: close` for
   * `closeGrace` ms, then closes idle connections and waits for in-flight
   * requests until `timeout`. Also closes the `node:net` listener. Idempotent.
   */
  shutdown(options?: NativeShutdownOptions): Promise<void>;
}

/**
 * Connections the `node:net` listener accepts itself (before the transplant
 * parks it, or on the fallback path) are served by a `node:http` server
 * with the same handler, so none is lost.
 */
export function portableServer(
  listener: NetServer,
  handler: (request: Request, remote: { hostname: string; port: number }) => Promise<Response>,
): {
  server(address: ListenerAddress): NativeHttpServer;
  shutdown(timeout?: number): Promise<unknown>;
  /**
   * Set while the native server serves: the few connections the listener
   * accepted before it was parked are answered with `Connection: close`, so
   * their clients reconnect and land on the native server.
   */
  handOver: boolean;
} {
  const self = { handOver: false };
  const http = fetchServer(handler, () => self.handOver);
  const drain = new HttpDrain(http, { idleGrace: CLOSE_GRACE_MS });
  // On Deno the http server takes over the listener's handle (`listen(server)`):
  // Deno's node:http resets a keep-alive connection fed by emit("connection")
  // after a response that ended asynchronously. Bun cannot share a handle
  // (it would bind elsewhere), and emit works there and on Node.
  const shared = "Deno" in globalThis;
  if (shared) http.listen(listener);
  else listener.on("connection", (socket: Socket) => http.emit("connection", socket));
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => finish = resolve);
  let shutting: Promise<unknown> | undefined;
  const shutdown = (timeout?: number) =>
    shutting ??= drain.shutdown({
      listeners: [shared ? http : listener],
      timeout: timeout ?? 30_000,
    }).then(async (result) => {
      if (listener.listening) {
        await new Promise((resolve) => NetServer.prototype.close.call(listener, resolve));
      }
      finish();
      return result;
    });
  return Object.assign(self, {
    shutdown,
    server: (address: ListenerAddress): NativeHttpServer => ({
      native: false,
      addr: { transport: "tcp", hostname: address.hostname, port: address.port },
      finished,
      async shutdown(opts: NativeShutdownOptions = {}) {
        await shutdown(opts.timeout);
      },
    }),
  });
}
