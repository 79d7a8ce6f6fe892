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
import { Libc, libcCandidates, type LoadedLibc, type RawLibc, SYMBOLS } from "./libc.ts";

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
      return { raw: bind(ffi.dlopen(path, symbols).symbols, ffi), arch };
    } catch (error) {
      failures.push(`${path}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  throw new TableflipError(
    "ERR_UNSUPPORTED",
    `cannot open libc; tried ${failures.join("; ")} (set ${LIBC_PATH_ENV} to its path)`,
  );
}

function bind(lib: Record<string, (...args: unknown[]) => unknown>, ffi: BunFfi): RawLibc {
  const int = (value: unknown) => Number(value as number | bigint);
  return {
    fcntl: (fd, cmd, arg) => int(lib.fcntl(fd, cmd, arg)),
    dup: (fd) => int(lib.dup(fd)),
    dup3: (oldfd, newfd, flags) => int(lib.dup3(oldfd, newfd, flags)),
    close: (fd) => int(lib.close(fd)),
    getsockname: (fd, addr, len) => int(lib.getsockname(fd, addr, len)),
    getsockopt: (fd, level, name, value, len) => int(lib.getsockopt(fd, level, name, value, len)),
    epoll_ctl: (epfd, op, fd, event) => int(lib.epoll_ctl(epfd, op, fd, event)),
    open: (path, flags, mode) => int(lib.open(path, flags, mode)),
    read: (fd, buf, count) => int(lib.read(fd, buf, count)),
    write: (fd, buf, count) => int(lib.write(fd, buf, count)),
    getdents64: (fd, buf, count) => int(lib.getdents64(fd, buf, count)),
    readlink: (path, buf, size) => int(lib.readlink(path, buf, size)),
    setsockopt: (fd, level, name, value, len) => int(lib.setsockopt(fd, level, name, value, len)),
    socket: (domain, type, protocol) => int(lib.socket(domain, type, protocol)),
    bind: (fd, addr, len) => int(lib.bind(fd, addr, len)),
    listen: (fd, backlog) => int(lib.listen(fd, backlog)),
    errno: () => ffi.read.i32(lib.__errno_location(), 0),
  };
}

/** libc for this Bun process; binds on the first call. */
export const libc: Libc = new Libc(loadBunLibc);
