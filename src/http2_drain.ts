/**
 * Graceful drain for `node:http2` servers (cleartext and TLS). An HTTP/2
 * client multiplexes every request over one long-lived session, and
 * `server.close()` only stops accepting: it sends no GOAWAY, so clients keep
 * using the old generation's sessions until the process is killed. This
 * drain instead:
 *
 * - stops accepting (closes the listeners, not the sessions);
 * - sends every session a GOAWAY: streams already open finish, and the
 *   client opens new ones on a new connection, which the new generation
 *   accepts (a shutdown notice first, in front of a response, then, after a
 *   PING round trip, the final GOAWAY, so no stream the client sent
 *   meanwhile is refused; see `goAway` below);
 * - destroys the sessions left at the deadline.
 *
 * An `allowHTTP1` server's HTTP/1.1 connections are not sessions and are not
 * tracked: while draining their responses carry `Connection: close`, so each
 * ends after its next response.
 *
 * @module
 */
import type {
  Http2SecureServer,
  Http2Server,
  Http2ServerRequest,
  Http2ServerResponse,
  Http2Session,
} from "node:http2";
import type { Server as NetServer } from "node:net";
import { runFirst } from "./run_first.ts";
import { stopAccepting } from "./stop_accepting.ts";

/** Options for {@link Http2Drain.shutdown}. */
export interface Http2ShutdownOptions {
  /** The listeners that feed this server. Default: the server itself, if it is listening. */
  listeners?: NetServer[];
  /** Deadline for the drain in ms; what is left is destroyed then. Default 30 000. */
  timeout?: number;
  /** Aborting ends the drain at once, as if the deadline had passed. */
  signal?: AbortSignal;
}

/** What an HTTP/2 drain did. */
export interface Http2DrainResult {
  /** Sessions that ended gracefully after their GOAWAY. */
  closed: number;
  /** Sessions destroyed at the deadline (or on abort). */
  forced: number;
  /** True if the deadline passed (or the signal aborted) with sessions left. */
  timedOut: boolean;
}

/**
 * Tracks an HTTP/2 server's sessions from construction on and drains them
 * with GOAWAY on {@link shutdown}. Create it before the server accepts its
 * first connection.
 *
 * ```ts
 * const server = http2.createServer((req, res) => res.end("hello\n"));
 * const drain = new Http2Drain(server);
 * const listener = await upg.listen("tcp", ":8443", server);
 * await upg.ready();
 * await upg.exit;
 * await drain.shutdown({ listeners: [listener], timeout: 30_000 });
 * ```
 */
export class Http2Drain {
  readonly #server: Http2Server | Http2SecureServer;
  readonly #sessions = new Set<Http2Session>();
  #draining = false;
  #closedWhileDraining = 0;
  #wake: () => void = () => {};

  constructor(server: Http2Server | Http2SecureServer) {
    this.#server = server;
    server.on("session", (session: Http2Session) => this.#track(session));
    // HTTP/1.1 requests of an allowHTTP1 server: tell the client the connection ends.
    runFirst(
      server,
      "request",
      (req: Http2ServerRequest, res: Http2ServerResponse) => {
        if (this.#draining && req.httpVersionMajor === 1 && !res.headersSent) {
          res.setHeader("connection", "close");
        }
      },
    );
  }

  /** Whether {@link shutdown} has started. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Open sessions being tracked. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /** Stops accepting, sends GOAWAY to every session, and resolves once they have all ended. */
  async shutdown(options: Http2ShutdownOptions = {}): Promise<Http2DrainResult> {
    this.#draining = true;
    const listeners = options.listeners ?? (this.#server.listening ? [this.#server] : []);
    const closing = listeners.map(stopAccepting);
    for (const session of this.#sessions) goAway(session);
    const timedOut = await this.#waitUntilEmpty(options.timeout ?? 30_000, options.signal);
    let forced = 0;
    for (const session of this.#sessions) {
      session.destroy();
      forced++;
    }
    this.#sessions.clear();
    await Promise.all(closing);
    return { closed: this.#closedWhileDraining, forced, timedOut };
  }

  #track(session: Http2Session): void {
    this.#sessions.add(session);
    countStreams(session);
    session.once("close", () => {
      if (this.#sessions.delete(session) && this.#draining) this.#closedWhileDraining++;
      this.#wake();
    });
    // A session that connects while draining (accepted just before the listener closed).
    if (this.#draining) goAway(session);
  }

  #waitUntilEmpty(timeout: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(deadline);
        signal?.removeEventListener("abort", finish);
        this.#wake = () => {};
        resolve(this.#sessions.size > 0);
      };
      this.#wake = () => {
        if (this.#sessions.size === 0) finish();
      };
      const deadline = setTimeout(finish, timeout);
      signal?.addEventListener("abort", finish, { once: true });
      if (signal?.aborted || this.#sessions.size === 0) finish();
    });
  }
}

/** The largest stream id: a GOAWAY naming it announces the shutdown without refusing any stream. */
const LAST_STREAM_ID = 2 ** 31 - 1;

/** Longest wait for a request to send the shutdown notice in front of, in ms. */
const NOTICE_IDLE = 200;

/** Longest wait for the PING that ends the notice's round trip, in ms. */
const NOTICE_LIMIT = 1000;

/** Streams a session is answering (requests received, response not finished). */
const openStreams = new WeakMap<Http2Session, number>();

/** Counts `session`'s open streams from now on. */
function countStreams(session: Http2Session): void {
  openStreams.set(session, 0);
  session.on("stream", (stream) => {
    openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
    stream.once("close", () => openStreams.set(session, (openStreams.get(session) ?? 1) - 1));
  });
}

/**
 * Two GOAWAYs, as RFC 9113 section 6.8 advises. The first, a shutdown notice,
 * names the largest stream id: the client opens no new stream, yet none it
 * already sent is refused. Clients built on nghttp2 (h2load, curl) fail a
 * request they queued but had not sent when a GOAWAY arrives, so the notice
 * goes out in front of a response: at once if a stream is open (its client
 * is waiting for the answer), else just before the next request is handled,
 * or after {@link NOTICE_IDLE} ms of silence. Once a PING has made the round
 * trip (every stream the client sent before the notice has arrived),
 * `close()` sends the final GOAWAY with the last processed stream, lets open
 * streams finish and ends the session.
 */
function goAway(session: Http2Session): void {
  if (session.closed || session.destroyed) return;
  let noticed = false;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(limit);
    if (!session.closed && !session.destroyed) session.close();
  };
  const limit = setTimeout(close, NOTICE_IDLE + NOTICE_LIMIT);
  const notice = () => {
    if (noticed || closed) return;
    noticed = true;
    clearTimeout(idle);
    session.off("stream", notice);
    try {
      session.goaway(0, LAST_STREAM_ID);
      if (!session.ping(close)) close();
    } catch {
      close();
    }
  };
  // Before the server's own listener, which hands the stream to the application.
  session.prependListener("stream", notice);
  const idle = setTimeout(notice, NOTICE_IDLE);
  if ((openStreams.get(session) ?? 0) > 0) notice();
}
