/**
 * Finds the fd behind a listener that does not expose it (Deno's TCP
 * listeners, Bun's `http.Server`): the open fd that is a listening socket
 * bound to the listener's address, found through libc and remembered.
 *
 * @module
 */
import type { Listener } from "../src/backend.ts";
import type { Libc } from "./libc/libc.ts";
import type { SocketAddress } from "./libc/sockaddr.ts";

/** A TCP listener's address as `node:net` reports it. */
interface NetAddress {
  address: string;
  port: number;
  family: string;
}

/** Remembers and looks up listeners' fds. */
export class ListenerFds {
  readonly #libc: Libc;
  readonly #known = new WeakMap<Listener, number>();

  constructor(libc: Libc) {
    this.#libc = libc;
  }

  /** Records that `listener` listens on `fd` (e.g. it adopted it). */
  remember(listener: Listener, fd: number): void {
    this.#known.set(listener, fd);
  }

  /** The fd of a listening TCP `listener`, or `undefined` if none matches its address. */
  find(listener: Listener): number | undefined {
    if (!listener.listening) return undefined;
    const address = listener.address();
    if (typeof address !== "object" || address === null) return undefined;
    const known = this.#known.get(listener);
    if (known !== undefined && this.#matches(known, address)) return known;
    const found = this.#libc.listeningSockets().find((fd) => this.#matches(fd, address));
    if (found === undefined) this.#known.delete(listener);
    else this.#known.set(listener, found);
    return found;
  }

  #matches(fd: number, want: NetAddress): boolean {
    if (!this.#libc.isListeningSocket(fd)) return false;
    let got: SocketAddress;
    try {
      got = this.#libc.socketAddress(fd);
    } catch {
      return false;
    }
    return (got.family === "IPv4" || got.family === "IPv6") && got.port === want.port &&
      got.family === want.family && got.address === want.address;
  }
}
