/**
 * Runs a drain's hook before the application's listener of a hot event (a
 * server's `request`), at the least cost per event.
 *
 * A second listener is not free: Node's `emit` copies the listener array on
 * every event once there are two, and calls both; for a bare `node:http`
 * server that alone is about 2.5% more CPU instructions per request
 * (bench/request_cost_bench.mjs). So when the event has exactly one listener
 * (the handler given to `http.createServer(handler)`: Express, Koa, Fastify's
 * `serverFactory`, Hono's node server), the hook and that listener are fused
 * into one. The fused listener carries the original as its `listener`
 * property, as `once` wrappers do: `listeners()` still returns the original
 * and `removeListener(original)` removes the fused one. Otherwise the hook is
 * prepended.
 *
 * @module
 */
import type { EventEmitter } from "node:events";

type Listener<A, B> = (this: unknown, a: A, b: B) => unknown;

/** A fused listener: the hook, then the application's listener (its `listener`). */
interface Fused<A, B> extends Listener<A, B> {
  listener: Listener<A, B>;
}

/**
 * Makes `hook` run before every other listener of `event` (an event of at most
 * two arguments, such as `request`) on `emitter`, as `prependListener` does,
 * but fused with the one listener already there, if there is exactly one.
 */
export function runFirst<A, B>(
  emitter: EventEmitter,
  event: string,
  hook: (a: A, b: B) => void,
): void {
  const raw = emitter.rawListeners(event);
  const only = raw.length === 1 ? raw[0] as Listener<A, B> : undefined;
  // A `once` wrapper, or a listener fused before: prepending keeps their semantics.
  if (!only || "listener" in only) {
    emitter.prependListener(event, hook as (...args: unknown[]) => void);
    return;
  }
  const fused = function (this: unknown, a: A, b: B): unknown {
    hook(a, b);
    return only.call(this, a, b);
  } as Fused<A, B>;
  fused.listener = only;
  emitter.removeListener(event, only);
  emitter.on(event, fused);
}
