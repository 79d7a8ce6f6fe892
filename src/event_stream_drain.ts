/**
 * Graceful end of server-sent event streams (`text/event-stream`) when a
 * generation drains. An event stream is a response that never finishes by
 * itself, so an HTTP drain would wait for it until the deadline and then
 * destroy it. {@link EventStreamDrain} tracks the streams and, when the drain
 * starts, lets the application send a last event, writes a `retry:` hint
 * (how long an `EventSource` waits before it reconnects), ends each response
 * cleanly and closes its HTTP/1.1 connection, so the client reconnects, with
 * its `Last-Event-ID`, on a new connection that the new generation accepts.
 *
 * @module
 */
import {
  type TrackedCloseOptions,
  TrackedDrain,
  type TrackedDrainResult,
} from "./tracked_drain.ts";

/** What {@link EventStreamDrain} needs of a response: `node:http`'s and `node:http2`'s fit. */
export interface DrainableEventStream {
  /** Whether `end()` was called. */
  readonly writableEnded: boolean;
  write(chunk: string): boolean;
  end(callback?: () => void): unknown;
  destroy(): unknown;
  once(event: "close", listener: () => void): unknown;
  /** The HTTP/1.1 connection (ended after the response); absent or shared on HTTP/2. */
  readonly socket?: { end(): unknown; destroyed?: boolean } | null;
  /** Set on `node:http2` compatibility responses: their session is not closed here. */
  readonly stream?: unknown;
}

/** Options for {@link EventStreamDrain}. */
export interface EventStreamDrainOptions<R extends DrainableEventStream = DrainableEventStream> {
  /** The `retry:` hint written before each stream ends, in ms. Default 500. */
  retry?: number;
  /** Called for each open stream when the drain starts, before the hint: a last event. */
  goodbye?: (response: R) => void;
}

/** Options for {@link EventStreamDrain.close}: a deadline after which what is left is destroyed. */
export type EventStreamCloseOptions = TrackedCloseOptions;

/** What {@link EventStreamDrain.close} did (`forced`: streams destroyed at the deadline). */
export type EventStreamDrainResult = TrackedDrainResult;

/**
 * Tracks server-sent event responses and ends them with a `retry:` hint when
 * the generation drains.
 *
 * ```ts
 * const streams = new EventStreamDrain({ retry: 500 });
 * // in the handler, after writing the text/event-stream headers:
 * streams.add(res);
 * // at the handover:
 * await drain.shutdown({ listeners: [listener], eventStreams: streams });
 * ```
 */
export class EventStreamDrain<R extends DrainableEventStream = DrainableEventStream>
  extends TrackedDrain<R> {
  readonly #options: EventStreamDrainOptions<R>;

  constructor(options: EventStreamDrainOptions<R> = {}) {
    super();
    this.#options = options;
  }

  /**
   * Tracks `response` until it closes; returns it. A stream added while
   * draining is ended at once (with its goodbye and hint): its client
   * reconnects to the new generation.
   */
  add(response: R): R {
    if (response.writableEnded) return response;
    if (this.track(response)) response.once("close", () => this.untrack(response));
    return response;
  }

  /**
   * Aborts {@link signal}, ends every stream after its goodbye and `retry:`
   * hint, and resolves once all have closed or the deadline passed (what is
   * left is destroyed). Calling it again returns the same result.
   */
  override close(options: EventStreamCloseOptions = {}): Promise<EventStreamDrainResult> {
    return super.close(options);
  }

  protected goodbye(response: R): void {
    try {
      this.#options.goodbye?.(response);
    } catch {
      // A failed goodbye does not keep the stream open.
    }
    if (response.writableEnded) return;
    response.write(`retry: ${this.#options.retry ?? 500}\n\n`);
    // The client waits `retry` ms before it reconnects: nothing is on its way on
    // this connection, so closing it cannot race a request, and the reconnect
    // opens a new one. (On HTTP/2 the response ends only its stream.)
    // (Taken now: a finished response lets go of its socket.)
    const socket = response.stream === undefined ? response.socket : undefined;
    response.end(() => {
      if (socket && !socket.destroyed) socket.end();
    });
  }

  protected force(response: R): void {
    response.destroy();
  }
}
