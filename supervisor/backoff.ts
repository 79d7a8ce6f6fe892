/**
 * Restart policy for a generation that dies while serving: exponential
 * back-off between restarts, and a crash loop (too many deaths within a
 * window) ends the restarts.
 *
 * @module
 */

/** Restart policy settings. */
export interface BackoffOptions {
  /** Delay before the first restart, in ms. */
  initialDelay: number;
  /** Largest delay between restarts, in ms. */
  maxDelay: number;
  /** Deaths within {@link window} that make a crash loop. */
  maxRestarts: number;
  /** The window, in ms. */
  window: number;
}

/** Defaults: 100 ms doubling up to 5 s; 5 restarts within 60 s is a crash loop. */
export const DEFAULT_BACKOFF: BackoffOptions = {
  initialDelay: 100,
  maxDelay: 5_000,
  maxRestarts: 5,
  window: 60_000,
};

/** Remembers recent deaths and says how long to wait before the next start. */
export class Backoff {
  readonly #options: BackoffOptions;
  #deaths: number[] = [];

  constructor(options: BackoffOptions) {
    this.#options = options;
  }

  /**
   * Records a death at `now`; returns the delay before restarting, or
   * `undefined` when this death makes a crash loop.
   */
  death(now: number): number | undefined {
    this.#deaths = this.#deaths.filter((t) => now - t < this.#options.window);
    this.#deaths.push(now);
    const n = this.#deaths.length;
    if (n > this.#options.maxRestarts) return undefined;
    return Math.min(this.#options.maxDelay, this.#options.initialDelay * 2 ** (n - 1));
  }

  /** Deaths within the window. */
  get recent(): number {
    return this.#deaths.length;
  }
}
