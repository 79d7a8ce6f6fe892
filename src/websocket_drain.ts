/**
 * Graceful close of WebSockets when a generation drains. A WebSocket is a
 * long-lived connection that an HTTP drain cannot end by itself: without a
 * close frame its clients hold the old generation until the deadline and then
 * see an abnormal closure (1006). {@link WebSocketDrain} tracks the sockets
 * and, when the drain starts, lets the application say goodbye, sends each a
 * close frame with code 1001 (going away) so that clients reconnect to the new
 * generation, waits for the closing handshakes and terminates what is left at
 * the deadline.
 *
 * It is structural: it works with `ws` sockets (Node), the standard
 * `WebSocket` of `Deno.upgradeWebSocket`, and Bun's `ServerWebSocket` (which
 * has no events: call {@link WebSocketDrain.delete} from the server's `close`
 * handler). Pass it to `HttpDrain#shutdown({ webSockets })` to close the
 * sockets right after the listeners stop accepting, or call
 * {@link WebSocketDrain.close} yourself.
 *
 * @module
 */
import {
  type TrackedCloseOptions,
  TrackedDrain,
  type TrackedDrainResult,
} from "./tracked_drain.ts";

/** The WebSocket "going away" close code (RFC 6455, section 7.4.1). */
export const GOING_AWAY = 1001;

/** The `readyState` of a closed WebSocket. */
const CLOSED = 3;

/** How often sockets without a close event are looked at while closing, in ms. */
const POLL_INTERVAL = 100;

/**
 * What {@link WebSocketDrain} needs of a server-side WebSocket: `ws`'s
 * `WebSocket`, the standard `WebSocket`, and Bun's `ServerWebSocket` all fit.
 */
export interface DrainableWebSocket {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Ends the connection at once, without a handshake (`ws`, Bun). */
  terminate?(): void;
  /** Node-style close event (`ws`). */
  once?(event: "close", listener: () => void): unknown;
  /** Standard close event (`WebSocket`). */
  addEventListener?(type: "close", listener: () => void, options?: { once?: boolean }): void;
}

/** Options for {@link WebSocketDrain}. */
export interface WebSocketDrainOptions<S extends DrainableWebSocket = DrainableWebSocket> {
  /** Close code sent when draining. Default 1001 (going away). */
  code?: number;
  /** Close reason sent when draining (at most 123 bytes). Default `"server going away"`. */
  reason?: string;
  /**
   * Called for each open socket when the drain starts, before its close frame:
   * the application's own goodbye (a "reconnect" message, state to hand over).
   * A returned promise is awaited up to `goodbyeTimeout`.
   */
  goodbye?: (socket: S) => void | Promise<void>;
  /** Longest wait for one `goodbye` promise, in ms. Default 1000. */
  goodbyeTimeout?: number;
}

/** Options for {@link WebSocketDrain.close}: a deadline after which what is left is terminated. */
export type WebSocketCloseOptions = TrackedCloseOptions;

/** What {@link WebSocketDrain.close} did (`forced`: sockets terminated at the deadline). */
export type WebSocketDrainResult = TrackedDrainResult;

/**
 * Tracks server-side WebSockets and closes them with 1001 (going away) when
 * the generation drains.
 *
 * ```ts
 * const sockets = new WebSocketDrain();
 * wss.on("connection", (ws) => sockets.add(ws)); // or sockets.trackServer(wss)
 * sockets.signal.addEventListener("abort", () => {  // the drain has started
 *   for (const ws of wss.clients) ws.send(JSON.stringify({ type: "bye" }));
 * });
 * await drain.shutdown({ listeners: [listener], webSockets: sockets });
 * ```
 */
export class WebSocketDrain<S extends DrainableWebSocket = DrainableWebSocket>
  extends TrackedDrain<S> {
  readonly #options: WebSocketDrainOptions<S>;
  protected override readonly pollInterval: number = POLL_INTERVAL;

  constructor(options: WebSocketDrainOptions<S> = {}) {
    super();
    this.#options = options;
  }

  /**
   * Tracks `socket` until it closes; returns it. A socket added while
   * draining is told goodbye and closed at once.
   */
  add(socket: S): S {
    if (socket.readyState === CLOSED) return socket;
    if (!this.track(socket)) return socket;
    const forget = () => this.delete(socket);
    if (typeof socket.once === "function") socket.once("close", forget);
    else socket.addEventListener?.("close", forget, { once: true });
    return socket;
  }

  /** Stops tracking `socket` (call it from a close handler when the socket has no close event). */
  delete(socket: S): boolean {
    return this.untrack(socket);
  }

  /** Adds every socket a `ws`-style server emits in `connection`; returns this drain. */
  trackServer(server: { on(event: "connection", listener: (socket: S) => void): unknown }): this {
    server.on("connection", (socket) => this.add(socket));
    return this;
  }

  /**
   * Aborts {@link signal}, runs `goodbye` for each socket, sends each a close
   * frame, and resolves once every socket has closed or the deadline passed
   * (what is left is terminated). Calling it again returns the same result.
   */
  override close(options: WebSocketCloseOptions = {}): Promise<WebSocketDrainResult> {
    return super.close(options);
  }

  protected goodbye(socket: S): void {
    void this.#sayGoodbyeAndClose(socket);
  }

  protected force(socket: S): void {
    socket.terminate?.();
  }

  /** Sockets without a close event (Bun's, if not deleted) are looked at here. */
  protected override sweep(): void {
    for (const socket of this.items()) {
      if (socket.readyState === CLOSED) this.delete(socket);
    }
  }

  async #sayGoodbyeAndClose(socket: S): Promise<void> {
    const { goodbye, goodbyeTimeout = 1000 } = this.#options;
    if (goodbye) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(() => goodbye(socket)),
          new Promise<void>((resolve) => timer = setTimeout(resolve, goodbyeTimeout)),
        ]);
      } catch {
        // A failed goodbye does not keep the socket open.
      } finally {
        clearTimeout(timer);
      }
    }
    if (socket.readyState >= 2) return;
    try {
      socket.close(this.#options.code ?? GOING_AWAY, this.#options.reason ?? "server going away");
    } catch {
      socket.terminate?.();
    }
  }
}
