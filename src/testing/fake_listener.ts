/**
 * A listener that exists only in memory: a `node:net` server that never
 * binds, reporting the address of the fake socket it stands for. What the
 * fake backend hands out in `memory` mode.
 *
 * @module
 */
import { type AddressInfo, Server } from "node:net";
import type { Network } from "../address.ts";

/** A listening socket in the fake world, shared by every process that holds an fd of it. */
export interface FakeSocket {
  /** Unique per socket (like an inode). */
  readonly id: number;
  readonly network: Network;
  /** Host for TCP ("" for all interfaces), path for unix. */
  readonly host: string;
  /** Port for TCP (never 0: a fake port is allocated), 0 for unix. */
  readonly port: number;
}

/** A `node:net` server that stands for a {@link FakeSocket} and never touches the OS. */
export class FakeListener extends Server {
  /** The socket this listener accepts on. */
  readonly socket: FakeSocket;
  #open = true;

  /** A listener on `socket`, listening from the start. */
  constructor(socket: FakeSocket) {
    super();
    this.socket = socket;
    Object.defineProperty(this, "listening", { get: () => this.#open, configurable: true });
  }

  /** The fake socket's address, as `node:net` reports one (a path for unix). */
  override address(): AddressInfo | string | null {
    if (!this.#open) return null;
    const { network, host, port } = this.socket;
    if (network === "unix") return host;
    const family = network === "tcp6" || host.includes(":") ? "IPv6" : "IPv4";
    return { address: host || (family === "IPv6" ? "::" : "0.0.0.0"), family, port };
  }

  /** Stops listening; emits `close`. */
  override close(callback?: (error?: Error) => void): this {
    const wasOpen = this.#open;
    this.#open = false;
    queueMicrotask(() => {
      if (wasOpen) this.emit("close");
      callback?.(
        wasOpen ? undefined : Object.assign(new Error("Server is not running."), {
          code: "ERR_SERVER_NOT_RUNNING",
        }),
      );
    });
    return this;
  }
}
