/**
 * What the long-lived connection drains share (`WebSocketDrain`,
 * `EventStreamDrain`): a set of tracked connections, a signal aborted when
 * the drain starts, a goodbye for each, and a wait until all have closed or
 * a deadline passed, when what is left is ended by force.
 *
 * @module
 */

/** What a drain of tracked connections did. */
export interface TrackedDrainResult {
  /** Connections that closed during the drain. */
  closed: number;
  /** Connections ended by force at the deadline (or on abort). */
  forced: number;
  /** True if the deadline passed (or the signal aborted) with connections left. */
  timedOut: boolean;
}

/** Options for {@link TrackedDrain.close}. */
export interface TrackedCloseOptions {
  /** Deadline in ms; what is left is ended by force then. Default 5000. */
  timeout?: number;
  /** Aborting ends what is left at once, as if the deadline had passed. */
  signal?: AbortSignal;
}

/** A set of connections closed gracefully when the generation drains. */
export abstract class TrackedDrain<T> {
  readonly #items = new Set<T>();
  readonly #started = new AbortController();
  #result?: Promise<TrackedDrainResult>;
  #closedWhileDraining = 0;
  #wake: () => void = () => {};

  /** Aborted when the drain starts: the application's cue to say goodbye. */
  get signal(): AbortSignal {
    return this.#started.signal;
  }

  /** Whether {@link close} has started. */
  get draining(): boolean {
    return this.#started.signal.aborted;
  }

  /** Open connections being tracked. */
  get size(): number {
    return this.#items.size;
  }

  /**
   * Starts the goodbye of every tracked connection and resolves once all
   * have closed or the deadline passed (what is left is ended by force).
   * Calling it again returns the same result.
   */
  close(options: TrackedCloseOptions = {}): Promise<TrackedDrainResult> {
    if (this.#result) return this.#result;
    this.#started.abort();
    for (const item of this.#items) this.goodbye(item);
    this.#result = this.#waitUntilEmpty(options.timeout ?? 5000, options.signal);
    return this.#result;
  }

  /** Tracks `item`; false if it already was. A connection added while draining is said goodbye to. */
  protected track(item: T): boolean {
    if (this.#items.has(item)) return false;
    this.#items.add(item);
    if (this.draining) this.goodbye(item);
    return true;
  }

  /** Stops tracking `item` (it closed); false if it was not tracked. */
  protected untrack(item: T): boolean {
    if (!this.#items.delete(item)) return false;
    if (this.draining) this.#closedWhileDraining++;
    this.#wake();
    return true;
  }

  /** The tracked connections. */
  protected items(): IterableIterator<T> {
    return this.#items.values();
  }

  /** Begins the graceful end of one connection (a goodbye, then a close). */
  protected abstract goodbye(item: T): void;

  /** Ends one connection at once. */
  protected abstract force(item: T): void;

  /** While waiting, how often {@link sweep} runs (ms), for connections without a close event. */
  protected readonly pollInterval: number | undefined = undefined;

  /** Looks for connections that closed without telling (see {@link pollInterval}). */
  protected sweep(): void {}

  #waitUntilEmpty(timeout: number, signal?: AbortSignal): Promise<TrackedDrainResult> {
    return new Promise((resolve) => {
      let done = false;
      let poller: ReturnType<typeof setInterval> | undefined;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        clearInterval(poller);
        signal?.removeEventListener("abort", finish);
        this.#wake = () => {};
        let forced = 0;
        for (const item of this.#items) {
          this.force(item);
          forced++;
        }
        this.#items.clear();
        resolve({ closed: this.#closedWhileDraining, forced, timedOut: forced > 0 });
      };
      this.#wake = () => {
        if (this.#items.size === 0) finish();
      };
      const deadline = setTimeout(finish, timeout);
      if (this.pollInterval !== undefined) {
        poller = setInterval(() => this.sweep(), this.pollInterval);
      }
      signal?.addEventListener("abort", finish, { once: true });
      if (signal?.aborted) return finish();
      this.sweep();
      this.#wake();
    });
  }
}
