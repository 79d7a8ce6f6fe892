/**
 * libc for Bun through `bun:ffi`, opened on first use. `bun:ffi` is
 * required at that moment (not imported), so Node and Deno never load it.
 *
 * ```ts
 * import { libc } from "./runtimes/libc/bun.ts";
 * libc.setNonBlocking(fd);
 * ```
 *
 * @module
 */
import { createRequire } from "node:module";
import { TableflipError } from "../../src/errors.ts";
import { Libc } from "./libc.ts";
import { bindRaw, libcCandidates, type LoadedLibc, SYMBOLS } from "./symbols.ts";

/** The slice of `bun:ffi` this file uses (declared here so `tsc` needs no Bun types). */
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown> };
  read: { i32(pointer: unknown, offset?: number): number };
}

/** Environment variable naming libc's path, tried before the usual places. */
export const LIBC_PATH_ENV = "TABLEFLIP_LIBC";

/** `bun:ffi` spells a few C types its own way. */
const BUN_TYPES: Record<string, string> = {
  buffer: "ptr",
  pointer: "ptr",
  usize: "u64",
  isize: "i64_fast",
};

/** Opens libc with `bun:ffi`. */
export function loadBunLibc(): LoadedLibc {
  const bun = (globalThis as { Bun?: unknown }).Bun;
  if (bun === undefined) {
    throw new TableflipError("ERR_UNSUPPORTED", "runtimes/libc/bun.ts runs only on Bun");
  }
  const { platform, arch: nodeArch, env } = (globalThis as unknown as {
    process: { platform: string; arch: string; env: Record<string, string | undefined> };
  }).process;
  if (platform !== "linux") {
    throw new TableflipError(
      "ERR_UNSUPPORTED",
      `the libc FFI layer supports Linux only, not ${platform}`,
    );
  }
  const arch = nodeArch === "x64" ? "x86_64" : nodeArch === "arm64" ? "aarch64" : nodeArch;
  const ffi = createRequire(import.meta.url)("bun:ffi") as BunFfi;
  const symbols: Record<string, { args: string[]; returns: string }> = {};
  for (const [name, { args, returns }] of Object.entries(SYMBOLS)) {
    symbols[name] = {
      args: args.map((t) => BUN_TYPES[t] ?? t),
      returns: BUN_TYPES[returns] ?? returns,
    };
  }
  const extra = env[LIBC_PATH_ENV];
  const candidates = [...(extra ? [extra] : []), ...libcCandidates(arch), "libc.so.6"];
  const failures: string[] = [];
  for (const path of candidates) {
    try {
      const errno = (at: unknown) => ffi.read.i32(at, 0);
      return { raw: bindRaw(ffi.dlopen(path, symbols).symbols, errno), arch };
    } catch (error) {
      failures.push(`${path}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  throw new TableflipError(
    "ERR_UNSUPPORTED",
    `cannot open libc; tried ${failures.join("; ")} (set ${LIBC_PATH_ENV} to its path)`,
  );
}

/** libc for this Bun process; binds on the first call. */
export const libc: Libc = new Libc(loadBunLibc);
