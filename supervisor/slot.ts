/**
 * A worker slot: one of the N places a generation's processes fill. Each
 * slot has its own process, restart back-off and crash-loop verdict, so a
 * slot that keeps crashing stops being restarted while the others serve.
 *
 * @module
 */
import { Backoff, type BackoffOptions } from "./backoff.ts";
import type { Generation } from "./generation.ts";

/** One worker slot. */
export class Slot {
  /** 0-based worker index. */
  readonly index: number;
  readonly backoff: Backoff;
  /** The process serving in this slot, if any. */
  proc: Generation | undefined;
  /** Pending restart, if the slot waits out a back-off delay. */
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles when the process being started here (not by an upgrade) serves or fails. */
  launching: Promise<void> | undefined;
  /** Set when a crash loop ended this slot's restarts. */
  gaveUp = false;

  constructor(index: number, backoff: BackoffOptions) {
    this.index = index;
    this.backoff = new Backoff(backoff);
  }

  /** Whether nothing runs here and nothing is on its way. */
  get empty(): boolean {
    return !this.proc && !this.launching && !this.restartTimer;
  }
}
