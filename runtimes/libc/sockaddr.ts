/**
 * C data layouts: socket addresses (`struct sockaddr_in`, `sockaddr_in6`
 * and `sockaddr_un`) encoded for `bind`/`sendto` and decoded from
 * `getsockname`, the textual forms of IPv6 addresses, and NUL-terminated
 * strings.
 *
 * @module
 */
import { SyscallError, TableflipError } from "../../src/errors.ts";
import { AF_INET, AF_INET6, AF_UNIX, SOCKADDR_UN_SIZE } from "./constants.ts";

/** A socket's local address, decoded from `getsockname`. */
export type SocketAddress =
  | { family: "IPv4" | "IPv6"; address: string; port: number }
  | { family: "unix"; path: string }
  | { family: "other"; domain: number };

/** An address to bind: an IP address and port, or a unix socket path. */
export type BindAddress =
  | { family: "IPv4" | "IPv6"; address: string; port: number }
  | { family: "unix"; path: string };

/** Encodes a `struct sockaddr_in`, `sockaddr_in6` or `sockaddr_un` (port in network order). */
export function encodeSockaddr(address: BindAddress): Uint8Array {
  if (address.family === "unix") {
    const path = new TextEncoder().encode(address.path);
    if (path.length > 107) {
      throw new SyscallError("bind", 36, /* ENAMETOOLONG */ `unix path ${address.path}`);
    }
    const out = new Uint8Array(2 + path.length + 1);
    new DataView(out.buffer).setUint16(0, AF_UNIX, true);
    out.set(path, 2);
    return out;
  }
  const v4 = address.family === "IPv4";
  const out = new Uint8Array(v4 ? 16 : 28);
  const view = new DataView(out.buffer);
  view.setUint16(0, v4 ? AF_INET : AF_INET6, true);
  view.setUint16(2, address.port);
  if (v4) out.set(address.address.split(".").map(Number), 4);
  else expandIPv6(address.address).forEach((g, i) => view.setUint16(8 + 2 * i, g));
  return out;
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded; a dotted IPv4 tail allowed). */
function expandIPv6(text: string): number[] {
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${
      ((c << 8) | d).toString(16)
    }`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const zeros = tail === undefined ? [] : Array(8 - left.length - right.length).fill("0");
  return [...left, ...zeros, ...right].map((g) => parseInt(g, 16));
}

/** Decodes a `struct sockaddr` (`sa_family` in host order, little-endian here; port in network order). */
export function decodeSockaddr(bytes: Uint8Array): SocketAddress {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const domain = bytes.length >= 2 ? view.getUint16(0, true) : -1;
  if (domain === AF_INET && bytes.length >= 8) {
    return {
      family: "IPv4",
      address: [...bytes.subarray(4, 8)].join("."),
      port: view.getUint16(2),
    };
  }
  if (domain === AF_INET6 && bytes.length >= 24) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(view.getUint16(8 + 2 * i).toString(16));
    return { family: "IPv6", address: compressIPv6(groups), port: view.getUint16(2) };
  }
  if (domain === AF_UNIX) {
    return { family: "unix", path: cStringAt(bytes, 2, bytes.length) };
  }
  return { family: "other", domain };
}

/** `::`-compresses the longest run of zero groups, as Node prints IPv6 addresses. */
export function compressIPv6(groups: string[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(":");
  const head = groups.slice(0, best).join(":");
  const tail = groups.slice(best + bestLen).join(":");
  const text = `${head}::${tail}`;
  // IPv4-mapped addresses print as ::ffff:a.b.c.d.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text);
  if (!mapped) return text;
  const hi = parseInt(mapped[1], 16);
  const lo = parseInt(mapped[2], 16);
  return `::ffff:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * `struct sockaddr_un` for a unix socket path or an `@abstract` name,
 * exactly as long as the address: family, then the path and its NUL, or a
 * NUL and the name. Throws `ERR_INVALID_ARGUMENT` if it does not fit.
 */
export function sockaddrUn(path: string): Uint8Array {
  const abstract = path.startsWith("@");
  const name = new TextEncoder().encode(abstract ? path.slice(1) : path);
  const length = 2 + 1 + name.length;
  if (length > SOCKADDR_UN_SIZE || name.length === 0 || name.includes(0)) {
    throw new TableflipError(
      "ERR_INVALID_ARGUMENT",
      `not a unix socket address (1 to 107 bytes, no NUL): ${JSON.stringify(path)}`,
    );
  }
  const addr = new Uint8Array(length);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, abstract ? 3 : 2);
  return addr;
}

/** A NUL-terminated UTF-8 copy of `text`. */
export function cString(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

export function cStringAt(bytes: Uint8Array, start: number, end: number): string {
  let stop = start;
  while (stop < end && bytes[stop] !== 0) stop++;
  return new TextDecoder().decode(bytes.subarray(start, stop));
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
