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

/** Options for {@link EventStreamDrain.close}. */
export interface EventStreamCloseOptions {
  /** Deadline in ms for the responses to finish; what is left is destroyed then. Default 5000. */
  timeout?: number;
  /** Aborting destroys what is left at once, as if the deadline had passed. */
  signal?: AbortSignal;
}

/** What {@link EventStreamDrain.close} did. */
export interface EventStreamDrainResult {
  /** Streams that ended cleanly during the drain. */
  closed: number;
  /** Streams destroyed at the deadline (or on abort). */
  forced: number;
  /** True if the deadline passed (or the signal aborted) with streams left. */
  timedOut: boolean;
}

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
export class EventStreamDrain<R extends DrainableEventStream = DrainableEventStream> {
  readonly #streams = new Set<R>();
  readonly #options: EventStreamDrainOptions<R>;
  readonly #started = new AbortController();
  #result?: Promise<EventStreamDrainResult>;
  #closedWhileDraining = 0;
  #wake: () => void = () => {};

  constructor(options: EventStreamDrainOptions<R> = {}) {
    this.#options = options;
  }

  /** Aborted when the drain starts. */
  get signal(): AbortSignal {
    return this.#started.signal;
  }

  /** Whether {@link close} has started. */
  get draining(): boolean {
    return this.#started.signal.aborted;
  }

  /** Open streams being tracked. */
  get size(): number {
    return this.#streams.size;
  }

  /**
   * Tracks `response` until it closes; returns it. A stream added while
   * draining is ended at once (with its goodbye and hint): its client
   * reconnects to the new generation.
   */
  add(response: R): R {
    if (response.writableEnded || this.#streams.has(response)) return response;
    this.#streams.add(response);
    response.once("close", () => {
      if (!this.#streams.delete(response)) return;
      if (this.draining) this.#closedWhileDraining++;
      this.#wake();
    });
    if (this.draining) this.#end(response);
    return response;
  }

  /**
   * Aborts {@link signal}, ends every stream after its goodbye and `retry:`
   * hint, and resolves once all have closed or the deadline passed (what is
   * left is destroyed). Calling it again returns the same result.
   */
  close(options: EventStreamCloseOptions = {}): Promise<EventStreamDrainResult> {
    if (this.#result) return this.#result;
    this.#started.abort();
    for (const response of this.#streams) this.#end(response);
    this.#result = this.#waitUntilEmpty(options.timeout ?? 5000, options.signal);
    return this.#result;
  }

  #end(response: R): void {
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

  #waitUntilEmpty(timeout: number, signal?: AbortSignal): Promise<EventStreamDrainResult> {
    return new Promise((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        signal?.removeEventListener("abort", finish);
        this.#wake = () => {};
        let forced = 0;
        for (const response of this.#streams) {
          response.destroy();
          forced++;
        }
        this.#streams.clear();
        resolve({ closed: this.#closedWhileDraining, forced, timedOut: forced > 0 });
      };
      this.#wake = () => {
        if (this.#streams.size === 0) finish();
      };
      const deadline = setTimeout(finish, timeout);
      signal?.addEventListener("abort", finish, { once: true });
      if (signal?.aborted || this.#streams.size === 0) finish();
    });
  }
}
