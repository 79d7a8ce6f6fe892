/**
 * Picks the backend for the runtime this code runs on.
 *
 * @module
 */
import type { Backend } from "../src/backend.ts";
import { NodeBackend } from "./node.ts";

/** Names of the runtimes tableflip knows. */
export type RuntimeName = "node" | "bun" | "deno";

/** Which runtime this is. */
export function detectRuntime(): RuntimeName {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun !== undefined) return "bun";
  if (g.Deno !== undefined) return "deno";
  return "node";
}

/** A backend for `runtime` (default: the detected one). */
export function createBackend(runtime: RuntimeName = detectRuntime()): Backend {
  switch (runtime) {
    default:
      return new NodeBackend();
  }
}
