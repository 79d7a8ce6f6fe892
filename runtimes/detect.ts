/**
 * Picks the backend for the runtime this code runs on.
 *
 * @module
 */
import type { Backend } from "../src/backend.ts";
import { TableflipError } from "../src/errors.ts";
import { BunBackend } from "./bun.ts";
import { DenoBackend } from "./deno.ts";
import { NodeBackend } from "./node.ts";

/** Names of the runtimes tableflip knows. */
export type RuntimeName = "node" | "bun" | "deno";

/** Which runtime this is: `bun` if `Bun` is defined, else `deno` if `Deno` is, else `node`. */
export function detectRuntime(): RuntimeName {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun !== undefined) return "bun";
  if (g.Deno !== undefined) return "deno";
  return "node";
}

/**
 * A backend for `runtime` (default: the detected one). Naming a runtime
 * other than the one this runs on is for tests and tooling; such a backend
 * fails at its first runtime-specific call.
 */
export function createBackend(runtime: RuntimeName = detectRuntime()): Backend {
  switch (runtime) {
    case "node":
      return new NodeBackend();
    case "bun":
      return new BunBackend();
    case "deno":
      return new DenoBackend();
    default:
      throw new TableflipError(
        "ERR_INVALID_ARGUMENT",
        `unknown runtime ${JSON.stringify(runtime)}: expected "node", "bun" or "deno"`,
      );
  }
}
