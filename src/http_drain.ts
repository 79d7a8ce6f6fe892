/**
 * Graceful drain for `node:http` and `node:https` servers that does not
 * reset keep-alive clients. Node >= 19's `server.close()` closes idle
 * keep-alive sockets at once, which races clients that are just sending
 * their next request: they see a reset. This drain instead:
 *
 * - stops accepting (closes the listeners, not the connections);
 * - answers in-flight and later requests with `Connection: close`, so each
 *   keep-alive client learns from a response that the connection ends;
 * - closes a connection by itself only when it is idle, has served at least
 *   one request, and has stayed idle for `idleGrace` ms;
 * - never closes a just-accepted connection before its first request;
 * - destroys what is left at the deadline.
 *
 * Upgraded connections (WebSockets) never serve a request, so the drain
 * would leave them to the deadline: pass a `WebSocketDrain` as
 * `shutdown({ webSockets })` and they are closed with 1001 as soon as the
 * listeners stop accepting, so their clients reconnect to the new generation.
 * Server-sent event streams never finish by themselves either: pass an
 * `EventStreamDrain` as `shutdown({ eventStreams })`.
 *
 * @module
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from "node:http";
import type { Server as NetServer, Socket } from "node:net";
import { TableflipError } from "./errors.ts";
import { runFirst } from "./run_first.ts";
import { stopAccepting } from "./stop_accepting.ts";
import type { WebSocketCloseOptions, WebSocketDrainResult } from "./websocket_drain.ts";
import type { EventStreamCloseOptions, EventStreamDrainResult } from "./event_stream_drain.ts";

/** Options for {@link HttpDrain}. */
export interface DrainOptions {
  /** How long an idle keep-alive connection must stay idle before the drain closes it, in ms. Default 2000. */
  idleGrace?: number;
}

/** Options for {@link HttpDrain.shutdown}. */
export interface ShutdownOptions {
  /**
   * The listeners that feed this server, to stop accepting on. Default: the
   * server itself, if it is listening.
   */
  listeners?: NetServer[];
  /** Deadline for the drain in ms; what is left is destroyed then. Default 30 000. */
  timeout?: number;
  /**
   * Ask the keep-alive connections to close over this many ms, oldest first,
   * instead of all on their next response (default 0: all at once). Their
   * clients then reconnect to the new generation in a stream rather than in
   * one burst: at 10,000 connections on Bun, 2000 ms lowered the worst
   * 500 ms of latency by about a quarter (bench/README.md, the storm
   * section). The old process exits that much later. At most `timeout`.
   * Not on Deno, whose node:http ends every keep-alive connection after its
   * next response once the listener has closed: there it is ignored.
   */
  spread?: number;
  /** Aborting ends the drain at once, as if the deadline had passed. */
  signal?: AbortSignal;
  /**
   * WebSockets upgraded from this server's connections (a `WebSocketDrain`):
   * closed with 1001 right after the listeners stop accepting, with the
   * drain's deadline and signal.
   */
  webSockets?: { close(options: WebSocketCloseOptions): Promise<WebSocketDrainResult> };
  /**
   * Server-sent event streams of this server (an `EventStreamDrain`): ended
   * with a `retry:` hint right after the listeners stop accepting.
   */
  eventStreams?: { close(options: EventStreamCloseOptions): Promise<EventStreamDrainResult> };
}

/** What a drain did. */
export interface DrainResult {
  /** Connections that ended gracefully during the drain. */
  closed: number;
  /** Connections destroyed at the deadline (or on abort). */
  forced: number;
  /** True if the deadline passed (or the signal aborted) with connections left. */
  timedOut: boolean;
  /** What closing the `webSockets` did, if they were given. */
  webSockets?: WebSocketDrainResult;
  /** What closing the `eventStreams` did, if they were given. */
  eventStreams?: EventStreamDrainResult;
}

interface Connection {
  /** Requests answered. */
  served: number;
  /** When the last response finished. */
  idleSince: number;
  /** Responses not finished yet, oldest first (more than one only when requests are pipelined). */
  unfinished: ServerResponse[];
  /** While draining: from when on its responses say `Connection: close` (ms since the epoch). */
  closeAt: number;
}

/** Longest wait for responses already being sent before the drain stops accepting, in ms. */
const ON_THE_WIRE_LIMIT = 1000;

/** How often the drain looks for connections it may close, in ms. */
const SWEEP_INTERVAL = 100;

/**
 * Tracks an HTTP(S) server's connections from construction on, and drains
 * them without resets on {@link shutdown}. Create it before the server
 * accepts its first connection.
 */
export class HttpDrain {
  readonly #server: HttpServer;
  readonly #idleGrace: number;
  readonly #connections = new Map<Socket, Connection>();
  #draining = false;
  #closedWhileDraining = 0;
  /** While the drain waits: called when its last connection closes, so it ends then, not at the next sweep. */
  #onEmpty: (() => void) | undefined;
  /**
   * The one `close` listener of every response (a response emits `close` once it
   * has finished or its connection ended, on Node, Bun and Deno): made once, with
   * the response as `this`, and no property added to the response. This is the
   * drain's whole per-request cost, so it stays this small.
   */
  readonly #responseDone = (() => {
    const connections = this.#connections;
    return function responseDone(this: ServerResponse): void {
      const connection = connections.get(this.req.socket as Socket);
      if (!connection) return;
      const list = connection.unfinished;
      const at = list[0] === this ? 0 : list.indexOf(this);
      if (at < 0) return;
      list.splice(at, 1);
      connection.served++;
      connection.idleSince = Date.now();
    };
  })();

  constructor(server: HttpServer, options: DrainOptions = {}) {
    this.#server = server;
    this.#idleGrace = options.idleGrace ?? 2000;
    const event = isTlsServer(server) ? "secureConnection" : "connection";
    server.on(event, (socket: Socket) => this.#track(socket));
    // Before the application's handler: a handler that answers synchronously (most
    // do) would otherwise send its headers before the drain can add `Connection: close`,
    // and busy keep-alive clients would never be told to leave.
    runFirst(
      server,
      "request",
      (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res),
    );
  }

  /** Whether {@link shutdown} has started. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Open connections being tracked. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Stops accepting and drains; resolves when every connection has ended or the deadline passed. */
  async shutdown(options: ShutdownOptions = {}): Promise<DrainResult> {
    const timeout = options.timeout ?? 30_000;
    // Deno's node:http ends every keep-alive connection after its next
    // response once the listener is closed (below), so there is nothing to spread.
    const asked = Math.min(checkSpread(options.spread), timeout);
    const spread = IS_DENO ? 0 : asked;
    this.#draining = true;
    const started = Date.now();
    const listeners = options.listeners ?? (this.#server.listening ? [this.#server] : []);
    const count = this.#connections.size;
    let i = 0;
    for (const connection of this.#connections.values()) {
      connection.closeAt = started + (count > 1 ? (spread * i++) / (count - 1) : 0);
      // Only the last response of a connection: a `Connection: close` on an
      // earlier one would end it before the pipelined requests behind it.
      const last = connection.unfinished.at(-1);
      if (last && connection.closeAt <= started) markClose(last);
    }
    // Deno's node:http destroys a keep-alive connection whose response ends
    // after its server stopped listening, though that response told the client
    // to keep it: let responses already on the wire end before closing.
    await this.#responsesOnTheWire(Math.min(ON_THE_WIRE_LIMIT, timeout), options.signal);
    // net.Server's close, not http's: http's also kills idle keep-alive sockets at once.
    const closing = listeners.map(stopAccepting);
    // Only now: a client that reconnects at once must reach the new generation.
    const left = () => Math.max(0, timeout - (Date.now() - started));
    const sockets = options.webSockets?.close({ timeout: left(), signal: options.signal });
    const streams = options.eventStreams?.close({ timeout: left(), signal: options.signal });
    const timedOut = await this.#sweepUntilEmpty(left(), options.signal);
    let forced = 0;
    for (const socket of this.#connections.keys()) {
      socket.destroy();
      forced++;
    }
    this.#connections.clear();
    await Promise.all(closing);
    const result: DrainResult = { closed: this.#closedWhileDraining, forced, timedOut };
    if (sockets) result.webSockets = await sockets;
    if (streams) result.eventStreams = await streams;
    return result;
  }

  /** Resolves when every response whose headers are sent has ended, or after `limit` ms. */
  #responsesOnTheWire(limit: number, signal?: AbortSignal): Promise<void> {
    // Event streams never end by themselves: `eventStreams` ends them later.
    const sent = [...this.#connections.values()].flatMap((c) =>
      c.unfinished.filter((res) => res.headersSent && !isEventStream(res))
    );
    if (sent.length === 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let left = sent.length;
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", finish);
        resolve();
      };
      const timer = setTimeout(finish, limit);
      signal?.addEventListener("abort", finish, { once: true });
      for (const res of sent) {
        let done = false;
        const onDone = () => {
          if (done) return;
          done = true;
          if (--left === 0) finish();
        };
        res.once("finish", onDone);
        res.once("close", onDone);
      }
    });
  }

  #sweepUntilEmpty(timeout: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (timedOut: boolean) => {
        this.#onEmpty = undefined;
        clearInterval(sweeper);
        clearTimeout(deadline);
        signal?.removeEventListener("abort", onAbort);
        resolve(timedOut);
      };
      const sweep = () => {
        const now = Date.now();
        for (const [socket, c] of this.#connections) {
          if (
            c.unfinished.length === 0 && c.served > 0 && now - c.idleSince >= this.#idleGrace &&
            now >= c.closeAt
          ) {
            socket.destroy();
          }
        }
        if (this.#connections.size === 0) finish(false);
      };
      const onAbort = () => finish(this.#connections.size > 0);
      const sweeper = setInterval(sweep, SWEEP_INTERVAL);
      const deadline = setTimeout(() => finish(this.#connections.size > 0), timeout);
      this.#onEmpty = () => finish(false);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) onAbort();
      else sweep();
    });
  }

  #track(socket: Socket): Connection {
    let connection = this.#connections.get(socket);
    if (connection) return connection;
    connection = { served: 0, idleSince: Date.now(), unfinished: [], closeAt: 0 };
    this.#connections.set(socket, connection);
    socket.once("close", () => {
      if (!this.#connections.delete(socket) || !this.#draining) return;
      this.#closedWhileDraining++;
      if (this.#connections.size === 0) this.#onEmpty?.();
    });
    return connection;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const connection = this.#track(req.socket);
    connection.unfinished.push(res);
    if (this.#draining && Date.now() >= connection.closeAt) {
      // A request pipelined behind one already told to close: move the close to it.
      unmarkClose(connection.unfinished.at(-2));
      markClose(res);
    }
    res.on("close", this.#responseDone);
  }
}

/**
 * Whether `server` is a `node:tls` server (`https`, `http2.createSecureServer`),
 * whose connections arrive as `secureConnection`. Told by its TLS methods, not
 * `instanceof`, so that this module does not load `node:tls` (about 12 ms of
 * a Node process's start): the same answer on Node, Bun and Deno.
 */
function isTlsServer(server: HttpServer): boolean {
  return typeof (server as unknown as { setSecureContext?: unknown }).setSecureContext ===
    "function";
}

function isEventStream(res: ServerResponse): boolean {
  return /^\s*text\/event-stream/i.test(String(res.getHeader("content-type") ?? ""));
}

/** Responses the drain added `Connection: close` to (not those the application did). */
const MARKED = new WeakSet<ServerResponse>();

function markClose(res: ServerResponse): void {
  if (res.headersSent || res.hasHeader("connection")) return;
  res.setHeader("Connection", "close");
  MARKED.add(res);
}

function unmarkClose(res: ServerResponse | undefined): void {
  if (!res || res.headersSent || !MARKED.delete(res)) return;
  res.removeHeader("Connection");
}

const IS_DENO = "Deno" in globalThis;

/** `spread` as given, or 0; throws a typed error unless it is a non-negative number of ms. */
function checkSpread(spread: number | undefined): number {
  if (spread === undefined) return 0;
  if (typeof spread === "number" && Number.isFinite(spread) && spread >= 0) return spread;
  throw new TableflipError(
    "ERR_INVALID_ARGUMENT",
    `spread must be a non-negative number of ms, got ${String(spread)}`,
  );
}
