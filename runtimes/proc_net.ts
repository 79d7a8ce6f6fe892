/**
 * What a listening socket fd is bound to, read from Linux's `/proc` with
 * `node:fs` alone: `/proc/self/fd/N` names the socket's inode, and the
 * `LISTEN` rows of `/proc/net/tcp`, `/proc/net/tcp6` and `/proc/net/unix`
 * give its address. Node has no `getsockname` for a raw fd; this is how it
 * learns which address a socket passed by systemd (`LISTEN_FDS`) listens on.
 *
 * @module
 */
import { readFileSync, readlinkSync } from "node:fs";
import type { SocketName } from "../src/backend.ts";
import { compressIPv6 } from "./libc/sockaddr.ts";

/** `st` column value of a listening TCP socket. */
const TCP_LISTEN = "0A";
/** `Flags` bit of a listening unix socket (`__SO_ACCEPTCON`). */
const UNIX_ACCEPTCON = 0x10000;

/** The address the listening socket `fd` is bound to, or `undefined` if it is not one. */
export function procSocketName(fd: number): SocketName | undefined {
  let target: string;
  try {
    target = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
  const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
  if (!inode) return undefined;
  return tcpRow("/proc/net/tcp", inode, "tcp4") ?? tcpRow("/proc/net/tcp6", inode, "tcp6") ??
    unixRow(inode);
}

function rows(path: string): string[][] {
  try {
    return readFileSync(path, "utf8").split("\n").slice(1).map((l) => l.trim().split(/\s+/));
  } catch {
    return [];
  }
}

function tcpRow(path: string, inode: string, network: "tcp4" | "tcp6"): SocketName | undefined {
  const row = rows(path).find((r) => r[9] === inode && r[3] === TCP_LISTEN);
  if (!row) return undefined;
  const [hexHost, hexPort] = row[1].split(":");
  const port = parseInt(hexPort, 16);
  const host = network === "tcp4" ? ipv4(hexHost) : `[${ipv6(hexHost)}]`;
  return { network, address: `${host}:${port}` };
}

function unixRow(inode: string): SocketName | undefined {
  const row = rows("/proc/net/unix").find((r) => r[6] === inode);
  if (!row || (parseInt(row[3], 16) & UNIX_ACCEPTCON) === 0 || !row[7]) return undefined;
  return { network: "unix", address: row[7] };
}

/** The kernel prints each 32-bit word of an address in host byte order (little-endian here). */
function wordBytes(hex: string): number[] {
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = hex.slice(w, w + 8);
    for (let b = 6; b >= 0; b -= 2) bytes.push(parseInt(word.slice(b, b + 2), 16));
  }
  return bytes;
}

function ipv4(hex: string): string {
  return wordBytes(hex).join(".");
}

function ipv6(hex: string): string {
  const bytes = wordBytes(hex);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return compressIPv6(groups);
}
