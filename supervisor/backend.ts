/**
 * What the supervisor needs from a runtime backend beyond the core's
 * contract: holding sockets without accepting, and reaping orphans.
 *
 * @module
 */
import type { ListenSpec } from "../src/address.ts";
import type { Backend } from "../src/backend.ts";
import type { HeldSocket } from "../runtimes/node_hold.ts";
import { createBackend } from "../runtimes/detect.ts";

/** A backend that can run a supervisor (every built-in one). */
export interface SupervisorBackend extends Backend {
  /** Binds `spec` and holds the listening socket without accepting on it. */
  holdListener(spec: ListenSpec): Promise<HeldSocket>;
  /** Whether {@link reapOrphans} can collect processes this one did not spawn. */
  readonly canReapOrphans: boolean;
  /** Reaps exited children that `isOwn` does not claim; returns their pids. */
  reapOrphans(isOwn: (pid: number) => boolean): number[];
}

/** The backend for the runtime the supervisor runs on. */
export function supervisorBackend(): SupervisorBackend {
  return createBackend() as SupervisorBackend;
}
