/**
 * The fd transplant (Linux): makes a runtime's native server accept on a
 * socket it did not create.
 *
 * `Deno.serve`, `Deno.listen` and `Bun.serve` take no fd. So the native
 * server is started as a placeholder on 127.0.0.1 with a kernel-chosen port;
 * its listening fd M is found (`SO_ACCEPTCONN` and the placeholder's port),
 * and the poller registration the runtime made for it is read from
 * `/proc/self/fdinfo/<epoll fd>` (`tfd: M events: X data: Y`). Then a copy
 * of the real socket replaces M (`dup3`, which also drops M's registration
 * with the placeholder socket) and M is registered again with the runtime's
 * own events and token, so the runtime keeps using "its" fd M, now the real
 * socket. The `node:net` server that owned the real socket before keeps its
 * fd (so the upgrader can still pass it on) but is unregistered from its
 * poller ("parked"): it accepts nothing from then on.
 *
 * Everything here goes through the libc FFI layer; the runtime-specific
 * parts (which native server, how to probe it) live in `deno_serve.ts` and
 * `bun_serve.ts`.
 *
 * @module
 */
import { EPOLL_CTL_ADD, EPOLL_CTL_DEL, O_CLOEXEC } from "../libc/constants.ts";
import type { Libc } from "../libc/libc.ts";
import type { SocketAddress } from "../libc/sockaddr.ts";
import type { Server as NetServer } from "node:net";
import { TableflipError } from "../../src/errors.ts";
import { handleFd, type ListenerAddress } from "./common.ts";

/** One poller registration of an fd: which epoll instance, with which events and user data. */
export interface Registration {
  /** An fd of the epoll instance. */
  epfd: number;
  /** The registered event mask (`EPOLLIN | EPOLLET | ...`). */
  events: number;
  /** The 64-bit user data (the runtime's token or pointer). */
  data: bigint;
}

/** One line of an eventpoll fdinfo file. */
interface Watch {
  tfd: number;
  events: number;
  data: bigint;
  /** Inode of the watched file. */
  ino: string;
}

/** An epoll instance of this process, as `/proc/self/fdinfo` shows it. */
interface EpollInfo {
  epfd: number;
  /** Inode of the epoll instance (several fds may share one instance). */
  ino: string;
  watches: Watch[];
}

const decoder = new TextDecoder();

function fdinfo(libc: Libc, fd: number): string | undefined {
  try {
    return decoder.decode(libc.readFile(`/proc/self/fdinfo/${fd}`));
  } catch {
    return undefined; // Closed meanwhile, or not readable: not an epoll we can use.
  }
}

/** Parses an fdinfo text; returns undefined unless it is an epoll instance with watches. */
export function parseEpollInfo(epfd: number, text: string): EpollInfo | undefined {
  const ino = /^ino:\s*(\S+)/m.exec(text)?.[1];
  const watches: Watch[] = [];
  const line =
    /^tfd:\s*(\d+)\s+events:\s*([0-9a-f]+)\s+data:\s*([0-9a-f]+)\b.*?\bino:([0-9a-f]+)/gm;
  for (let m = line.exec(text); m; m = line.exec(text)) {
    watches.push({
      tfd: Number(m[1]),
      events: parseInt(m[2], 16),
      data: BigInt(`0x${m[3]}`),
      ino: m[4],
    });
  }
  if (ino === undefined || watches.length === 0) return undefined;
  return { epfd, ino, watches };
}

/** Every epoll instance of this process that watches something, one fd per instance. */
export function epollInstances(libc: Libc): EpollInfo[] {
  const seen = new Set<string>();
  const out: EpollInfo[] = [];
  for (const fd of libc.openFds()) {
    const text = fdinfo(libc, fd);
    if (!text || !text.includes("tfd:")) continue;
    const info = parseEpollInfo(fd, text);
    if (!info || seen.has(info.ino)) continue;
    seen.add(info.ino);
    out.push(info);
  }
  return out;
}

/** The registrations of `fd` in every epoll instance of this process. */
export function registrationsOf(libc: Libc, fd: number): Registration[] {
  const out: Registration[] = [];
  for (const ep of epollInstances(libc)) {
    for (const w of ep.watches) {
      if (w.tfd === fd) out.push({ epfd: ep.epfd, events: w.events, data: w.data });
    }
  }
  return out;
}

/** The inode number of the file behind `fd` (from its fdinfo), to tell sockets apart. */
export function inodeOf(libc: Libc, fd: number): string | undefined {
  const text = fdinfo(libc, fd);
  const ino = text ? /^ino:\s*(\d+)/m.exec(text)?.[1] : undefined;
  return ino === undefined ? undefined : Number(ino).toString(16);
}

/** Whether two socket addresses name the same IP and port. */
function sameAddress(a: SocketAddress, host: string, port: number): boolean {
  if (a.family !== "IPv4" && a.family !== "IPv6") return false;
  return a.port === port && normalizeHost(a.address) === normalizeHost(host);
}

function normalizeHost(host: string): string {
  const h = host.toLowerCase();
  return h.startsWith("::ffff:") && h.includes(".") ? h.slice(7) : h;
}

/** The listening TCP sockets of this process bound to exactly `host:port`. */
export function listeningFdsAt(libc: Libc, host: string, port: number): number[] {
  return libc.listeningSockets().filter((fd) => {
    try {
      return sameAddress(libc.socketAddress(fd), host, port);
    } catch {
      return false;
    }
  });
}

/** What {@link transplant} did, so it can be checked and undone at drain time. */
export interface Transplant {
  /** The runtime's fd, now the real socket. */
  fd: number;
  /** The runtime's registrations of it, restored on the real socket. */
  registrations: Registration[];
  /** The fds of the real socket that other (`node:net`) servers own, now unregistered. */
  parked: { fd: number; registrations: Registration[] }[];
  /** Inode of the real socket. */
  ino: string;
}

/**
 * Moves the listening socket `source` (owned by a `node:net` server) under
 * the runtime's placeholder fd `target`, then parks every other fd of the
 * same socket. Throws a `TableflipError` (`ERR_TRANSPLANT`) if a step fails;
 * the target then still holds the placeholder or the real socket, never
 * anything else.
 */
export function transplant(libc: Libc, source: number, target: number): Transplant {
  const registrations = registrationsOf(libc, target);
  if (registrations.length === 0) {
    throw transplantError(`fd ${target} (the native placeholder) is in no epoll instance`);
  }
  const ino = inodeOf(libc, source);
  if (!ino) throw transplantError(`cannot read the inode of fd ${source}`);
  const owners = socketFds(libc, ino, target);
  moveUnder(libc, source, target, registrations);
  const parked = owners.map((fd) => ({ fd, registrations: park(libc, fd) }));
  return { fd: target, registrations, parked, ino };
}

/**
 * Puts the socket of `first` (a transplant done before) under one more
 * placeholder fd `target` of the runtime, registered as the runtime made it:
 * one more accept loop on the same socket. Parks nothing (`first` did).
 */
export function transplantCopy(libc: Libc, first: Transplant, target: number): Transplant {
  const registrations = registrationsOf(libc, target);
  if (registrations.length === 0) {
    throw transplantError(`fd ${target} (the native placeholder) is in no epoll instance`);
  }
  moveUnder(libc, first.fd, target, registrations);
  return { fd: target, registrations, parked: [], ino: first.ino };
}

/** A copy of `source` replaces `target` (dropping its registrations), registered again with `registrations`. */
function moveUnder(
  libc: Libc,
  source: number,
  target: number,
  registrations: Registration[],
): void {
  const copy = libc.dup(source);
  try {
    // The runtime accepts until EAGAIN: a blocking socket would freeze its loop.
    libc.setNonBlocking(copy);
    libc.dup3(copy, target, O_CLOEXEC);
  } finally {
    libc.close(copy);
  }
  for (const r of registrations) libc.epollCtl(r.epfd, EPOLL_CTL_ADD, target, r.events, r.data);
}

/** Every fd of the listening socket with inode `ino` except `except` (the node:net server's, copies). */
export function socketFds(libc: Libc, ino: string, except: number): number[] {
  return libc.openFds().filter((fd) =>
    fd !== except && libc.isListeningSocket(fd) && inodeOf(libc, fd) === ino
  );
}

/** Unregisters `fd` from every epoll instance watching it; returns what was removed. */
export function park(libc: Libc, fd: number): Registration[] {
  const registrations = registrationsOf(libc, fd);
  for (const r of registrations) libc.epollCtl(r.epfd, EPOLL_CTL_DEL, fd);
  return registrations;
}

/** Registers the parked fds of `t` again, so their `node:net` servers accept again. */
export function unpark(libc: Libc, t: Transplant): void {
  for (const p of t.parked) {
    for (const r of p.registrations) {
      try {
        libc.epollCtl(r.epfd, EPOLL_CTL_ADD, p.fd, r.events, r.data);
      } catch {
        // Already registered again, or closed meanwhile.
      }
    }
  }
}

/**
 * Checks that fd `t.fd` is still the real socket and that the runtime's
 * poller watches it under the runtime's own token. Returns why not, or
 * undefined when all is in place.
 */
export function verify(libc: Libc, t: Transplant): string | undefined {
  if (inodeOf(libc, t.fd) !== t.ino) return `fd ${t.fd} is no longer the inherited socket`;
  if (!libc.isListeningSocket(t.fd)) return `fd ${t.fd} is not a listening socket`;
  const now = registrationsOf(libc, t.fd);
  for (const r of t.registrations) {
    if (!now.some((n) => n.events === r.events && n.data === r.data)) {
      return `fd ${t.fd} lost its poller registration (events 0x${r.events.toString(16)})`;
    }
  }
  return undefined;
}

/**
 * Stops the runtime from accepting on `t.fd` without closing the real
 * socket: unregisters it, puts an idle loopback listener under the same fd
 * number and registers that one with the runtime's token, so the runtime's
 * own shutdown later closes the dummy. Connections still queued on the real
 * socket stay there for whoever else holds it (the next generation).
 */
export function detach(libc: Libc, t: Transplant): void {
  for (const r of t.registrations) {
    try {
      libc.epollCtl(r.epfd, EPOLL_CTL_DEL, t.fd);
    } catch {
      // Not registered any more: nothing to stop.
    }
  }
  const dummy = libc.listenLoopback();
  try {
    libc.dup3(dummy, t.fd, O_CLOEXEC);
  } finally {
    libc.close(dummy);
  }
  for (const r of t.registrations) libc.epollCtl(r.epfd, EPOLL_CTL_ADD, t.fd, r.events, r.data);
}

/** Finds the placeholder's listening fd: bound to 127.0.0.1:`port`, not one of `exclude`. */
export function placeholderFd(libc: Libc, port: number): number {
  const found = listeningFdsAt(libc, "127.0.0.1", port);
  if (found.length !== 1) {
    throw transplantError(
      `expected one listening fd on the placeholder 127.0.0.1:${port}, found ${found.length}`,
    );
  }
  return found[0];
}

function transplantError(message: string): TableflipError {
  return new TableflipError("ERR_UNSUPPORTED", `fd transplant: ${message}`);
}

/**
 * Finds the listener's fd, moves its socket under the placeholder's fd
 * `placeholderPort`, checks it and runs `probe`; undoes everything on
 * failure (the `node:net` listener then accepts again).
 */
export async function adoptInto(
  lib: Libc,
  listener: NetServer,
  address: ListenerAddress,
  placeholderPort: number,
  probe: (moved: Transplant) => Promise<void>,
): Promise<Transplant> {
  lib.load();
  const source = handleFd(listener) ?? listeningFdsAt(lib, address.hostname, address.port)[0];
  if (source === undefined) {
    throw new TableflipError(
      "ERR_UNSUPPORTED",
      `no listening fd found for ${address.hostname}:${address.port}`,
    );
  }
  const target = placeholderFd(lib, placeholderPort);
  const t = transplant(lib, source, target);
  try {
    const why = verify(lib, t);
    if (why) throw new TableflipError("ERR_UNSUPPORTED", why);
    await probe(t);
    return t;
  } catch (error) {
    try {
      detach(lib, t);
    } finally {
      unpark(lib, t);
    }
    throw error;
  }
}

/** The address the transplanted socket is bound to, from `getsockname`. */
export function realAddress(
  lib: Libc,
  fd: number,
  fallback: ListenerAddress,
): { hostname: string; port: number } {
  const a = lib.socketAddress(fd);
  return a.family === "IPv4" || a.family === "IPv6"
    ? { hostname: a.address, port: a.port }
    : { hostname: fallback.hostname, port: fallback.port };
}
