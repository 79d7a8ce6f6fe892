// Package stage: what its parts share.
import { join } from "node:path";
import { ROOT, RUNTIMES } from "../runtimes.mjs";

/** The runtimes the package is imported, required and demoed on. */
export const RUNTIME_NAMES = ["node20", "node22", "node24", "bun", "deno"];
/** The pinned Deno. */
export const DENO = RUNTIMES.deno.exe;
/** The pinned Node 22. */
export const NODE22 = RUNTIMES.node22.exe;
/** node_modules/.bin of the repository. */
export const BIN = join(ROOT, "node_modules", ".bin");
/** Limit for one wait (server up, new version visible, old process gone). */
export const WAIT_MS = 30_000;
