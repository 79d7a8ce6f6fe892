/**
 * Typed wrappers over the few libc calls that Bun and Deno do not expose
 * (Linux only): fd flags, socket introspection, `dup3`, `epoll_ctl`, reading
 * `/proc` files. `bun.ts` and `deno.ts` bind the raw functions through each
 * runtime's FFI; this file turns them into small checked operations.
 *
 * Nothing is loaded until the first call.
 *
 * @module
 */
import { SyscallError } from "../../src/errors.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  CLOCK_MONOTONIC,
  EPOLL_CTL_DEL,
  F_DUPFD_CLOEXEC,
  F_GETFD,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  MSG_DONTWAIT,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./constants.ts";
import {
  type BindAddress,
  concat,
  cString,
  cStringAt,
  decodeSockaddr,
  encodeSockaddr,
  sockaddrUn,
  type SocketAddress,
} from "./sockaddr.ts";
import type { LoadedLibc, RawLibc } from "./symbols.ts";

const SO_TYPE = 3;
const SO_REUSEADDR = 2;
const SO_RCVTIMEO = 20;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
/** `waitid` arguments and the offset of `si_pid` in `siginfo_t` (Linux, 64-bit). */
const P_ALL = 0;
const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;
const SIGINFO_PID_OFFSET = 16;
const SO_ACCEPTCONN = 30;
const SO_DOMAIN = 39;
const EINTR = 4;

/** Lazily bound libc. One instance per runtime binding; see `bun.ts` and `deno.ts`. */
export class Libc {
  readonly #load: () => LoadedLibc;
  #loaded: LoadedLibc | undefined;

  /** `load` binds libc through the runtime's FFI; it runs on the first call, not before. */
  constructor(load: () => LoadedLibc) {
    this.#load = load;
  }

  get #raw(): RawLibc {
    return (this.#loaded ??= this.#load()).raw;
  }

  /** Binds libc now, so a missing permission or library shows up at a chosen moment. */
  load(): void {
    void this.#raw;
  }

  /** `fcntl(fd, F_GETFL)`: the file status flags (`O_NONBLOCK`, ...). */
  getFlags(fd: number): number {
    return this.#check("fcntl", `${fd}, F_GETFL`, this.#raw.fcntl(fd, F_GETFL, 0));
  }

  /** `fcntl(fd, F_SETFL, flags)`: replaces the file status flags. */
  setFlags(fd: number, flags: number): void {
    this.#check("fcntl", `${fd}, F_SETFL, ${flags}`, this.#raw.fcntl(fd, F_SETFL, flags));
  }

  /** `fcntl(fd, F_GETFD)`: the fd flags (`FD_CLOEXEC`). */
  getFdFlags(fd: number): number {
    return this.#check("fcntl", `${fd}, F_GETFD`, this.#raw.fcntl(fd, F_GETFD, 0));
  }

  /** `fcntl(fd, F_SETFD, flags)`: replaces the fd flags. */
  setFdFlags(fd: number, flags: number): void {
    this.#check("fcntl", `${fd}, F_SETFD, ${flags}`, this.#raw.fcntl(fd, F_SETFD, flags));
  }

  /** Sets (or clears) `O_NONBLOCK` on the open file behind `fd` (shared by every copy of it). */
  setNonBlocking(fd: number, on = true): void {
    const flags = this.getFlags(fd);
    const next = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
    if (next !== flags) this.setFlags(fd, next);
  }

  /** Whether `O_NONBLOCK` is set on `fd`. */
  isNonBlocking(fd: number): boolean {
    return (this.getFlags(fd) & O_NONBLOCK) !== 0;
  }

  /** Sets (or clears) `FD_CLOEXEC` on this fd number only. */
  setCloseOnExec(fd: number, on = true): void {
    const flags = this.getFdFlags(fd);
    const next = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
    if (next !== flags) this.setFdFlags(fd, next);
  }

  /** Whether `FD_CLOEXEC` is set on `fd`. */
  isCloseOnExec(fd: number): boolean {
    return (this.getFdFlags(fd) & FD_CLOEXEC) !== 0;
  }

  /** Whether `fd` is an open fd (any kind). Never throws. */
  isOpen(fd: number): boolean {
    return this.#raw.fcntl(fd, F_GETFD, 0) >= 0;
  }

  /** Whether `fd` is an open socket. Never throws. */
  isSocket(fd: number): boolean {
    return this.#intOption(fd, SO_TYPE) !== undefined;
  }

  /** Whether `fd` is a socket in the listening state (`SO_ACCEPTCONN`). Never throws. */
  isListeningSocket(fd: number): boolean {
    return this.#intOption(fd, SO_ACCEPTCONN) === 1;
  }

  /** The socket's domain (`AF_INET`, `AF_INET6`, `AF_UNIX`, ...), from `SO_DOMAIN`. */
  socketDomain(fd: number): number {
    const domain = this.#intOption(fd, SO_DOMAIN);
    if (domain === undefined) {
      throw new SyscallError("getsockopt", this.#raw.errno(), `${fd}, SO_DOMAIN`);
    }
    return domain;
  }

  /** `getsockname(fd)`, decoded. */
  socketAddress(fd: number): SocketAddress {
    const addr = new Uint8Array(128);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, addr.length, true);
    this.#check("getsockname", String(fd), this.#raw.getsockname(fd, addr, len));
    const size = Math.min(new DataView(len.buffer).getUint32(0, true), addr.length);
    return decodeSockaddr(addr.subarray(0, size));
  }

  /** The local TCP/UDP port of an IPv4/IPv6 socket, or `undefined` for other sockets. */
  socketPort(fd: number): number | undefined {
    const address = this.socketAddress(fd);
    return address.family === "IPv4" || address.family === "IPv6" ? address.port : undefined;
  }

  /** `dup(fd)`: a new fd (lowest free number, not close-on-exec) for the same open file. */
  dup(fd: number): number {
    return this.#check("dup", String(fd), this.#raw.dup(fd));
  }

  /** `fcntl(fd, F_DUPFD_CLOEXEC, 0)`: like {@link dup}, but the new fd is close-on-exec. */
  dupCloseOnExec(fd: number): number {
    return this.#check(
      "fcntl",
      `${fd}, F_DUPFD_CLOEXEC, 0`,
      this.#raw.fcntl(fd, F_DUPFD_CLOEXEC, 0),
    );
  }

  /**
   * `dup3(oldfd, newfd, flags)`: makes `newfd` refer to `oldfd`'s open file,
   * closing whatever `newfd` was; `flags` may be `O_CLOEXEC`.
   */
  dup3(oldfd: number, newfd: number, flags = 0): number {
    return this.#check("dup3", `${oldfd}, ${newfd}, ${flags}`, this.#raw.dup3(oldfd, newfd, flags));
  }

  /** `close(fd)`. Throws on `EBADF`; an `EINTR` counts as closed (Linux semantics). */
  close(fd: number): void {
    if (this.#raw.close(fd) < 0) {
      const errno = this.#raw.errno();
      if (errno !== EINTR) throw new SyscallError("close", errno, String(fd));
    }
  }

  /**
   * `epoll_ctl(epfd, op, fd, {events, data})`. `data` is the 64-bit user
   * data the poller gets back (a token or pointer). The struct is packed
   * (12 bytes) on x86_64 and 16 bytes elsewhere, as in the kernel ABI.
   */
  epollCtl(epfd: number, op: number, fd: number, events = 0, data: bigint = 0n): void {
    const packed = (this.#loaded ??= this.#load()).arch === "x86_64";
    const event = new Uint8Array(packed ? 12 : 16);
    const view = new DataView(event.buffer);
    view.setUint32(0, events >>> 0, true);
    view.setBigUint64(packed ? 4 : 8, BigInt.asUintN(64, data), true);
    this.#check(
      "epoll_ctl",
      `${epfd}, ${op}, ${fd}, {events: 0x${events.toString(16)}, data: ${data}}`,
      this.#raw.epoll_ctl(epfd, op, fd, op === EPOLL_CTL_DEL ? null : event),
    );
  }

  /** `write(fd, bytes)` once; returns how many bytes were written. */
  write(fd: number, bytes: Uint8Array): number {
    return this.#check(
      "write",
      `${fd}, ${bytes.length} bytes`,
      this.#raw.write(fd, bytes, bytes.length),
    );
  }

  /** `read(fd, buf)` once; returns how many bytes were read (0 at EOF). */
  read(fd: number, buf: Uint8Array): number {
    return this.#check("read", `${fd}, ${buf.length} bytes`, this.#raw.read(fd, buf, buf.length));
  }

  /** Reads a whole (small, e.g. `/proc`) file with blocking `open`/`read`/`close`. */
  readFile(path: string): Uint8Array {
    const fd = this.#check(
      "open",
      JSON.stringify(path),
      this.#raw.open(cString(path), O_CLOEXEC, 0),
    );
    const chunks: Uint8Array[] = [];
    try {
      for (;;) {
        const buf = new Uint8Array(16 * 1024);
        const n = this.read(fd, buf);
        if (n === 0) break;
        chunks.push(buf.subarray(0, n));
      }
    } finally {
      this.#raw.close(fd);
    }
    return concat(chunks);
  }

  /** The fds open in this process, ascending, from `/proc/self/fd` (without the one used to list them). */
  openFds(): number[] {
    const dir = this.#check(
      "open",
      '"/proc/self/fd"',
      this.#raw.open(cString("/proc/self/fd"), O_CLOEXEC, 0),
    );
    const fds: number[] = [];
    try {
      const buf = new Uint8Array(32 * 1024);
      const view = new DataView(buf.buffer);
      for (;;) {
        const n = this.#check(
          "getdents64",
          String(dir),
          this.#raw.getdents64(dir, buf, buf.length),
        );
        if (n === 0) break;
        // struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
        for (let at = 0; at < n;) {
          const reclen = view.getUint16(at + 16, true);
          const name = cStringAt(buf, at + 19, at + reclen);
          if (/^\d+$/.test(name) && Number(name) !== dir) fds.push(Number(name));
          at += reclen;
        }
      }
    } finally {
      this.#raw.close(dir);
    }
    return fds.sort((a, b) => a - b);
  }

  /**
   * What `fd` refers to, from `/proc/self/fd/<fd>`: `socket:[<inode>]`,
   * `pipe:[<inode>]`, a path, ...; two fds with the same target share the socket or pipe.
   */
  fdTarget(fd: number): string {
    const buf = new Uint8Array(4096);
    const n = this.#check(
      "readlink",
      `"/proc/self/fd/${fd}"`,
      this.#raw.readlink(cString(`/proc/self/fd/${fd}`), buf, buf.length),
    );
    return new TextDecoder().decode(buf.subarray(0, n));
  }

  /**
   * Points `fd` at `/dev/null` (close-on-exec) without freeing its number:
   * drops this fd's reference to a socket that some other code owns and
   * will close later, without that close ever hitting a reused number.
   */
  nullify(fd: number): void {
    const devNull = this.#check(
      "open",
      '"/dev/null"',
      this.#raw.open(cString("/dev/null"), O_RDWR | O_CLOEXEC, 0),
    );
    try {
      this.dup3(devNull, fd, O_CLOEXEC);
    } finally {
      this.#raw.close(devNull);
    }
  }

  /** The open fds that are listening sockets. */
  listeningSockets(): number[] {
    return this.openFds().filter((fd) => this.isListeningSocket(fd));
  }

  /** `setsockopt(fd, level, name, &int, 4)`: sets an integer socket option. */
  setIntOption(fd: number, level: number, name: number, value: number): void {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setInt32(0, value, true);
    this.#check(
      "setsockopt",
      `${fd}, ${level}, ${name}, ${value}`,
      this.#raw.setsockopt(fd, level, name, bytes, 4),
    );
  }

  /**
   * Sets the accept queue of the listening socket `fd` to `backlog` (capped
   * by the kernel at net.core.somaxconn): `listen()` again on a socket that
   * listens already only changes its queue.
   */
  setBacklog(fd: number, backlog: number): void {
    this.#check("listen", `${fd}, ${backlog}`, this.#raw.listen(fd, backlog));
  }

  /**
   * A new TCP socket listening on 127.0.0.1 with a kernel-chosen port,
   * non-blocking and close-on-exec, that no runtime knows about. Returns its fd.
   */
  listenLoopback(backlog = 1): number {
    return this.listenOn({ family: "IPv4", address: "127.0.0.1", port: 0 }, backlog);
  }

  /**
   * A new listening socket bound to `address` (TCP with `SO_REUSEADDR`, and
   * `IPV6_V6ONLY` when `v6Only`; or a unix socket path), non-blocking and
   * close-on-exec, that no runtime polls: nothing accepts on it until it is
   * passed to a process that does. Returns its fd.
   */
  listenOn(address: BindAddress, backlog = 511, v6Only = false): number {
    const domain = address.family === "IPv4"
      ? AF_INET
      : address.family === "IPv6"
      ? AF_INET6
      : AF_UNIX;
    const fd = this.#check(
      "socket",
      `${domain}, SOCK_STREAM`,
      this.#raw.socket(domain, SOCK_STREAM | O_NONBLOCK | O_CLOEXEC, 0),
    );
    const where = address.family === "unix" ? address.path : `${address.address}:${address.port}`;
    try {
      if (address.family !== "unix") this.setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1);
      if (address.family === "IPv6") this.setIntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY, +v6Only);
      const addr = encodeSockaddr(address);
      this.#check("bind", `${fd}, ${where}`, this.#raw.bind(fd, addr, addr.length));
      this.#check("listen", `${fd}, ${backlog}`, this.#raw.listen(fd, backlog));
    } catch (error) {
      this.#raw.close(fd);
      throw error;
    }
    return fd;
  }

  /**
   * Bounds how long a blocking `accept` on the listening socket `fd` waits
   * (`SO_RCVTIMEO`); a non-blocking `accept` never waits for it.
   */
  setAcceptTimeout(fd: number, microseconds: number): void {
    const timeout = new Uint8Array(16); // struct timeval { tv_sec; tv_usec }
    const view = new DataView(timeout.buffer);
    view.setBigInt64(0, BigInt(Math.floor(microseconds / 1e6)), true);
    view.setBigInt64(8, BigInt(microseconds % 1e6), true);
    this.#check(
      "setsockopt",
      `${fd}, SO_RCVTIMEO`,
      this.#raw.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, timeout.length),
    );
  }

  /**
   * Reaps exited children that `isOwn` does not claim (orphans reparented to
   * this process as PID 1 or a subreaper), without touching the exit status
   * of the runtime's own children: each zombie is looked at first
   * (`waitid(P_ALL, WNOWAIT)`), and only a stranger is collected
   * (`waitpid(pid)`). Returns the pids reaped.
   */
  reapOrphans(isOwn: (pid: number) => boolean): number[] {
    const reaped: number[] = [];
    const info = new Uint8Array(128);
    const status = new Uint8Array(4);
    for (;;) {
      info.fill(0);
      if (this.#raw.waitid(P_ALL, 0, info, WEXITED | WNOHANG | WNOWAIT) < 0) break;
      const pid = new DataView(info.buffer).getInt32(SIGINFO_PID_OFFSET, true);
      // No zombie, or one the runtime will collect itself: stop for now.
      if (pid <= 0 || isOwn(pid)) break;
      if (this.#raw.waitpid(pid, status, WNOHANG) !== pid) break;
      reaped.push(pid);
    }
    return reaped;
  }

  /**
   * Sends `bytes` as one datagram to the unix socket `path`, from a fresh
   * `AF_UNIX`/`SOCK_DGRAM` socket (close-on-exec, closed again): a path, or
   * `@name` for Linux's abstract namespace (a leading NUL, no trailing one,
   * and the address length counting exactly the name: `@a` and `@a\0` are
   * different sockets). Never blocks: a full receiver queue fails with EAGAIN.
   */
  sendDatagram(path: string, bytes: Uint8Array): void {
    const addr = sockaddrUn(path);
    const fd = this.#check(
      "socket",
      "AF_UNIX, SOCK_DGRAM|SOCK_CLOEXEC",
      this.#raw.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0),
    );
    try {
      this.#check(
        "sendto",
        `${fd}, ${bytes.length} bytes, ${JSON.stringify(path)}`,
        this.#raw.sendto(fd, bytes, bytes.length, MSG_DONTWAIT, addr, addr.length),
      );
    } finally {
      this.#raw.close(fd);
    }
  }

  /** `clock_gettime(CLOCK_MONOTONIC)` in microseconds. */
  monotonicMicros(): bigint {
    // struct timespec { i64 tv_sec; i64 tv_nsec; } on x86_64 and aarch64.
    const timespec = new Uint8Array(16);
    this.#check(
      "clock_gettime",
      "CLOCK_MONOTONIC",
      this.#raw.clock_gettime(CLOCK_MONOTONIC, timespec),
    );
    const view = new DataView(timespec.buffer);
    return view.getBigInt64(0, true) * 1_000_000n + view.getBigInt64(8, true) / 1000n;
  }

  #intOption(fd: number, name: number): number | undefined {
    const value = new Uint8Array(4);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, 4, true);
    if (this.#raw.getsockopt(fd, SOL_SOCKET, name, value, len) < 0) return undefined;
    return new DataView(value.buffer).getInt32(0, true);
  }

  #check(syscall: string, detail: string, result: number): number {
    if (result < 0) throw new SyscallError(syscall, this.#raw.errno(), detail);
    return result;
  }
}
