/**
 * The libc functions tableflip binds, spelled once for every FFI (the
 * loaders in `bun.ts` and `deno.ts`), where libc lives, and how the bound
 * symbols become a {@link RawLibc}.
 *
 * @module
 */

/** The raw libc functions, as an FFI binding exposes them. Pointers are byte buffers. */
export interface RawLibc {
  fcntl(fd: number, cmd: number, arg: number): number;
  dup(fd: number): number;
  dup3(oldfd: number, newfd: number, flags: number): number;
  close(fd: number): number;
  getsockname(fd: number, addr: Uint8Array, len: Uint8Array): number;
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, len: Uint8Array): number;
  epoll_ctl(epfd: number, op: number, fd: number, event: Uint8Array | null): number;
  open(path: Uint8Array, flags: number, mode: number): number;
  read(fd: number, buf: Uint8Array, count: number): number;
  write(fd: number, buf: Uint8Array, count: number): number;
  getdents64(fd: number, buf: Uint8Array, count: number): number;
  readlink(path: Uint8Array, buf: Uint8Array, size: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  listen(fd: number, backlog: number): number;
  waitid(idtype: number, id: number, info: Uint8Array, options: number): number;
  waitpid(pid: number, status: Uint8Array, options: number): number;
  sendto(
    fd: number,
    buf: Uint8Array,
    len: number,
    flags: number,
    addr: Uint8Array,
    addrlen: number,
  ): number;
  clock_gettime(clock: number, timespec: Uint8Array): number;
  /** The calling thread's `errno`, read right after a failed call. */
  errno(): number;
}

/** What a loader returns: the bound functions and the CPU architecture (`x86_64`, `aarch64`). */
export interface LoadedLibc {
  raw: RawLibc;
  arch: string;
}

/**
 * Where libc usually lives on Linux for `arch` (`x86_64` or `aarch64`), most
 * likely first. Deno scopes `--allow-ffi=<path>` to the literal path, so each
 * is tried as given, without resolving symlinks.
 */
export function libcCandidates(arch: string): string[] {
  const triple = `${arch}-linux-gnu`;
  return [
    `/lib/${triple}/libc.so.6`,
    `/usr/lib/${triple}/libc.so.6`,
    "/lib64/libc.so.6",
    "/usr/lib64/libc.so.6",
    "/lib/libc.so.6",
    "/usr/lib/libc.so.6",
    `/lib/ld-musl-${arch}.so.1`,
  ];
}

/** The libc symbols every binding declares, with C types spelled in a neutral way. */
export const SYMBOLS = {
  fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
  dup: { args: ["i32"], returns: "i32" },
  dup3: { args: ["i32", "i32", "i32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  getsockname: { args: ["i32", "buffer", "buffer"], returns: "i32" },
  getsockopt: { args: ["i32", "i32", "i32", "buffer", "buffer"], returns: "i32" },
  epoll_ctl: { args: ["i32", "i32", "i32", "buffer"], returns: "i32" },
  open: { args: ["buffer", "i32", "i32"], returns: "i32" },
  read: { args: ["i32", "buffer", "usize"], returns: "isize" },
  write: { args: ["i32", "buffer", "usize"], returns: "isize" },
  getdents64: { args: ["i32", "buffer", "usize"], returns: "isize" },
  readlink: { args: ["buffer", "buffer", "usize"], returns: "isize" },
  setsockopt: { args: ["i32", "i32", "i32", "buffer", "u32"], returns: "i32" },
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  bind: { args: ["i32", "buffer", "u32"], returns: "i32" },
  listen: { args: ["i32", "i32"], returns: "i32" },
  waitid: { args: ["i32", "i32", "buffer", "i32"], returns: "i32" },
  waitpid: { args: ["i32", "buffer", "i32"], returns: "i32" },
  sendto: { args: ["i32", "buffer", "usize", "i32", "buffer", "u32"], returns: "isize" },
  clock_gettime: { args: ["i32", "buffer"], returns: "i32" },
  __errno_location: { args: [], returns: "pointer" },
} as const;

/** Name of one symbol of {@link SYMBOLS}. */
export type SymbolName = keyof typeof SYMBOLS;

/**
 * Wraps the functions a runtime's FFI opened from libc as a {@link RawLibc}:
 * every result becomes a number (FFI may hand back bigints), and `errno`
 * reads the thread's errno the runtime's way.
 */
export function bindRaw(
  lib: Record<string, (...args: unknown[]) => unknown>,
  errno: (location: unknown) => number,
): RawLibc {
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
    waitid: (idtype, id, info, options) => int(lib.waitid(idtype, id, info, options)),
    waitpid: (pid, status, options) => int(lib.waitpid(pid, status, options)),
    sendto: (fd, buf, len, flags, addr, addrlen) =>
      int(lib.sendto(fd, buf, len, flags, addr, addrlen)),
    clock_gettime: (clock, timespec) => int(lib.clock_gettime(clock, timespec)),
    errno: () => errno(lib.__errno_location()),
  };
}
