/**
 * Waiting with a deadline and a way out: the small promise helpers the
 * upgrader's parent side uses.
 *
 * @module
 */
import type { SpawnedChild } from "./backend.ts";

/**
 * Races `outcomes` against a timer of `ms` (`{ kind: "timeout" }`) and
 * `signal` (`{ kind: "aborted" }`); the timer and the listener are removed
 * whichever wins.
 */
export async function raceTimerAndSignal<T>(
  outcomes: Promise<T>[],
  ms: number,
  signal: AbortSignal,
): Promise<T | { kind: "timeout" } | { kind: "aborted"; reason: unknown }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      ...outcomes,
      new Promise<{ kind: "timeout" }>((resolve) => {
        timer = setTimeout(() => resolve({ kind: "timeout" }), ms);
      }),
      new Promise<{ kind: "aborted"; reason: unknown }>((resolve) => {
        onAbort = () => resolve({ kind: "aborted", reason: signal.reason });
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}

/** `promise`, or a rejection with `signal.reason` once `signal` aborts. */
export function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** SIGKILLs `child` and waits for its end. */
export async function killAndWait(child: SpawnedChild): Promise<void> {
  child.kill("SIGKILL");
  await child.exited;
}
