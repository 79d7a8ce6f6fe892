/**
 * Fault injection for the fake backend: make the next call (or the next n
 * calls) of any backend method fail with a given error.
 *
 * @module
 */
import type { Backend } from "../backend.ts";

/**
 * A step that can be made to fail: a backend method, or `start` (the child
 * was spawned but could not start: its pid is 0 and it "exits" with the
 * error, as when the executable does not exist).
 */
export type FakeStep = Exclude<keyof Backend, "name"> | "start";

/** Pending failures, by step. */
export class Faults {
  readonly #pending = new Map<FakeStep, { error: Error; times: number }>();

  /**
   * Makes the next `times` calls of `step` throw `error` (an async method
   * rejects with it). Default error: `Error("injected fault in <step>")`.
   */
  inject(step: FakeStep, error: Error = new Error(`injected fault in ${step}`), times = 1): void {
    this.#pending.set(step, { error, times });
  }

  /** Removes every pending failure. */
  clear(): void {
    this.#pending.clear();
  }

  /** Throws the pending failure for `step`, if any. */
  check(step: FakeStep): void {
    const fault = this.#pending.get(step);
    if (!fault) return;
    if (--fault.times <= 0) this.#pending.delete(step);
    throw fault.error;
  }
}
