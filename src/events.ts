/**
 * Lifecycle events, for logging and metrics. Pass `onEvent` to the
 * {@link Upgrader} to receive them.
 *
 * @module
 */
import type { TableflipError } from "./errors.ts";
import type { EntryShape } from "./protocol.ts";

/** Everything the upgrader reports, discriminated by `type`. */
export type UpgradeEvent =
  /** This process called `ready()` (PID file written, parent told). */
  | { type: "ready"; pid: number; generation: number }
  /** `upgrade()` began. */
  | { type: "upgrade-started"; generation: number }
  /** The next generation was spawned. */
  | { type: "child-spawned"; pid: number; fds: number }
  /**
   * The next generation reported ready but a probation window is set: both
   * processes accept for `ms` milliseconds before this one hands over.
   */
  | { type: "probation-started"; pid: number; ms: number }
  /**
   * The next generation ended within its probation window. This process keeps
   * serving; `pidFileRestored` tells whether the PID file names it again
   * (always false without a `pidFile`).
   */
  | {
    type: "probation-failed";
    pid: number;
    exitCode: number | null;
    signal: string | null;
    pidFileRestored: boolean;
  }
  /** The next generation reported ready (and survived probation, if set); this process will exit. */
  | { type: "child-ready"; pid: number }
  /** `upgrade()` failed; this process keeps serving. */
  | { type: "upgrade-failed"; error: TableflipError }
  /** An inherited fd nobody claimed was closed at `ready()`. */
  | { type: "fd-closed"; fd: number; entry: EntryShape }
  /** `exit` settled: a child took over, or `stop()` ran. */
  | { type: "exiting"; reason: "upgraded" | "stopped" }
  /** The parent generation exited. */
  | { type: "parent-gone"; pid: number }
  /** An sd_notify message to systemd could not be sent (the upgrade goes on regardless). */
  | { type: "notify-failed"; error: TableflipError };

/** Receives {@link UpgradeEvent}s. Exceptions thrown by it are ignored. */
export type EventHook = (event: UpgradeEvent) => void;
