/**
 * libc for Deno through `Deno.dlopen`, opened on first use. Needs
 * `--allow-ffi`; scope it to libc's absolute path, e.g.
 * `--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6` (Deno matches the literal
 * path, so name the one {@link libcCandidates} tries first on your system).
 * Without it the first call throws a {@link PermissionError} naming the flag.
 *
 * ```ts
 * import { libc } from "./runtimes/libc/deno.ts";
 * libc.setNonBlocking(fd);
 * ```
 *
 * @module
 */
import { PermissionError, TableflipError } from "../../src/errors.ts";
import { Libc } from "./libc.ts";
import { bindRaw, libcCandidates, type LoadedLibc, SYMBOLS } from "./symbols.ts";

/** The slice of the `Deno` namespace this file uses (declared here so `tsc` needs no Deno types). */
interface DenoFfi {
  dlopen(
    path: string,
    symbols: Record<string, { parameters: string[]; result: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown> };
  UnsafePointerView: new (pointer: unknown) => { getInt32(offset?: number): number };
  build: { os: string; arch: string };
  env: { get(name: string): string | undefined };
  errors: { NotCapable?: new () => Error; PermissionDenied: new () => Error };
}

/** Environment variable naming libc's path, tried before the usual places. */
export const LIBC_PATH_ENV = "TABLEFLIP_LIBC";

function deno(): DenoFfi {
  const found = (globalThis as unknown as { Deno?: DenoFfi }).Deno;
  if (!found) {
    throw new TableflipError("ERR_UNSUPPORTED", "runtimes/libc/deno.ts runs only on Deno");
  }
  return found;
}

function isPermissionError(error: unknown): boolean {
  const errors = deno().errors;
  return (errors.NotCapable !== undefined && error instanceof errors.NotCapable) ||
    error instanceof errors.PermissionDenied;
}

function override(): string | undefined {
  try {
    return deno().env.get(LIBC_PATH_ENV) || undefined;
  } catch {
    return undefined; // No --allow-env for it: use the usual places.
  }
}

/** Opens libc with `Deno.dlopen`. Throws a `PermissionError` without `--allow-ffi`. */
export function loadDenoLibc(): LoadedLibc {
  const d = deno();
  if (d.build.os !== "linux") {
    throw new TableflipError(
      "ERR_UNSUPPORTED",
      `the libc FFI layer supports Linux only, not ${d.build.os}`,
    );
  }
  const symbols: Record<string, { parameters: string[]; result: string }> = {};
  for (const [name, { args, returns }] of Object.entries(SYMBOLS)) {
    symbols[name] = { parameters: [...args], result: returns };
  }
  const extra = override();
  const candidates = [...(extra ? [extra] : []), ...libcCandidates(d.build.arch)];
  let denied: unknown;
  const failures: string[] = [];
  for (const path of candidates) {
    try {
      const lib = d.dlopen(path, symbols).symbols;
      const errno = (at: unknown) => new d.UnsafePointerView(at).getInt32(0);
      return { raw: bindRaw(lib, errno), arch: d.build.arch };
    } catch (error) {
      if (isPermissionError(error)) denied ??= error;
      failures.push(`${path}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  if (denied) {
    throw new PermissionError(
      `--allow-ffi=${candidates[0]} (or --allow-ffi=<path of libc>; set ${LIBC_PATH_ENV} to it)`,
      "tableflip's libc calls (fd flags, socket lookup, re-exec flags)",
      { cause: denied },
    );
  }
  throw new TableflipError(
    "ERR_UNSUPPORTED",
    `cannot open libc; tried ${failures.join("; ")} (set ${LIBC_PATH_ENV} to its path)`,
  );
}

/** libc for this Deno process; binds on the first call. */
export const libc: Libc = new Libc(loadDenoLibc);
