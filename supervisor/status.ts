/**
 * What `tableflip status` reports, and how it prints as text.
 *
 * @module
 */
import type { GenerationState } from "./generation.ts";

/** The supervisor's state, as the control socket answers `status`. */
export interface StatusReport {
  pid: number;
  runtime: string;
  uptimeMs: number;
  stopping: boolean;
  /** Worker processes per generation. */
  workers: number;
  /** Number of the serving generation (worker 0's), or `null`. */
  current: number | null;
  listeners: { network: string; address: string; name?: string; source: string }[];
  generations: {
    generation: number;
    worker: number;
    pid: number;
    state: GenerationState;
    uptimeMs: number;
  }[];
}

/** A human-readable table of `report`. */
export function formatStatus(report: StatusReport): string {
  const lines = [
    `supervisor pid ${report.pid} (${report.runtime}), up ${duration(report.uptimeMs)}, ` +
    `${report.workers} worker(s) per generation${report.stopping ? ", stopping" : ""}`,
    `serving: ${report.current === null ? "none" : `generation ${report.current}`}`,
    "listeners:",
    ...report.listeners.map((l) =>
      `  ${l.network} ${l.address}${l.name ? ` (${l.name})` : ""} from ${l.source}`
    ),
    "GENERATION  WORKER  PID       STATE     UPTIME",
    ...report.generations.map((g) =>
      `${String(g.generation).padEnd(12)}${String(g.worker).padEnd(8)}${String(g.pid).padEnd(10)}${
        g.state.padEnd(10)
      }${duration(g.uptimeMs)}`
    ),
  ];
  return lines.join("\n");
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
