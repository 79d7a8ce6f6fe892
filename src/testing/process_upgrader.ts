/**
 * An `Upgrader` for one fake process. The library allows one Upgrader per
 * process (a second throws `ERR_ALREADY_CREATED` until the first is
 * stopped), tracked in a global slot; fake processes all live in the test's
 * process, so each gets a slot of its own while its Upgrader is made.
 *
 * @module
 */
import { Upgrader, type UpgraderOptions } from "../upgrader.ts";
import type { FakeBackend } from "./fake_backend.ts";

/** The global slot `src/upgrader.ts` keeps the active Upgrader's liveness check in. */
const ACTIVE = Symbol.for("tableflip.activeUpgrader");
const slots = new WeakMap<FakeBackend, unknown>();

/**
 * A new `Upgrader` on `backend`, with the one-per-process rule applied to
 * that fake process alone: another fake process (a spawned child, another
 * test kit) or the real process may have its own.
 */
export function upgraderFor(
  backend: FakeBackend,
  options: Omit<UpgraderOptions, "backend"> = {},
): Upgrader {
  const global = globalThis as { [ACTIVE]?: unknown };
  const saved = global[ACTIVE];
  global[ACTIVE] = slots.get(backend);
  try {
    return new Upgrader({ ...options, backend });
  } finally {
    slots.set(backend, global[ACTIVE]);
    global[ACTIVE] = saved;
  }
}
