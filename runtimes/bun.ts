/**
 * The Bun backend: the Node backend with Bun's differences.
 *
 * - `node:http`/`node:https` servers cannot listen on an fd in Bun (they
 *   bind a random port instead) and expose no fd, so every HTTP(S) server
 *   is fed by a `node:net` listener (or, for HTTPS, a `node:tls` listener
 *   built from the server's own TLS options) that hands it each connection.
 * - The control socket is opened with `Bun.connect({ fd })`: a
 *   `node:net` socket on an inherited fd cannot both read and write in Bun,
 *   and a read-only one never reports EOF.
 * - A `bun build --compile` executable re-executes itself without a script
 *   path and without its baked-in runtime flags.
 * - sd_notify datagrams go through libc `sendto` (no unix datagram sockets
 *   in `node:dgram`), and `MONOTONIC_USEC` comes from libc `clock_gettime`:
 *   Bun's `process.hrtime.bigint()` counts from process start, not boot.
 *
 * @module
 */
import { type ListenOptions, Server as NetServer } from "node:net";
import type { TLSSocket } from "node:tls";
import process from "node:process";
import type { ConnectionHandler, Listener, ParentLink } from "../src/backend.ts";
import { TableflipError } from "../src/errors.ts";
import { LineSplitter, READY_LINE } from "../src/protocol.ts";
import { libc } from "./libc/bun.ts";
import { LISTEN_BACKLOG } from "./listen_backlog.ts";
import { ListenerFds } from "./listener_fds.ts";
import { sendThroughLibc } from "./libc/sd_notify.ts";
import { acceptorFor, NodeBackend } from "./node.ts";
import { holdWithLibc } from "./libc/hold.ts";
import type { HeldSocket } from "./node_hold.ts";
import type { ListenSpec as HoldSpec, Network } from "../src/address.ts";

/** The slice of the `Bun` global this file uses (declared here so `tsc` needs no Bun types). */
interface BunGlobal {
  main: string;
  connect(options: { fd: number; socket: BunSocketHandlers }): Promise<BunSocket>;
}

interface BunSocket {
  write(data: string): number;
  unref(): void;
}

interface BunSocketHandlers {
  data(socket: BunSocket, data: Uint8Array): void;
  drain(socket: BunSocket): void;
  end(socket: BunSocket): void;
  close(socket: BunSocket): void;
  error(socket: BunSocket, error: Error): void;
}

function bun(): BunGlobal {
  const found = (globalThis as unknown as { Bun?: BunGlobal }).Bun;
  if (!found) throw new TableflipError("ERR_UNSUPPORTED", "the Bun backend runs only on Bun");
  return found;
}

/** Prefix of the virtual file system a `bun build --compile` executable runs its entry point from. */
export const BUN_COMPILED_PREFIX = "/$bunfs/";

/** Backend for Bun. */
export class BunBackend extends NodeBackend {
  override readonly name: string = "bun";
  /** fds of listeners that do not expose theirs (an `http.Server` listening by itself). */
  readonly #fds = new ListenerFds(libc);

  /**
   * `[bun, ...flags, script, ...args]`, or for a `bun build --compile`
   * executable `[executable, ...args]` (its flags are baked in).
   */
  override reexecArgv(): string[] {
    if (bun().main.startsWith(BUN_COMPILED_PREFIX)) {
      return [process.execPath, ...process.argv.slice(2)];
    }
    return super.reexecArgv();
  }

  /**
   * A `node:net` or `node:tls` server listens itself; an HTTP(S) server
   * (which in Bun is neither) gets a listener that feeds it. Bun's node:net
   * ignores the backlog and listens with 512: the queue is then set to the
   * largest through libc, as on the other runtimes.
   */
  /** Bun accepts every queued connection at once: it neither passes nor uses copies. */
  protected override readonly passesAcceptCopies: boolean = false;

  /** Closes the `copies` (see {@link passesAcceptCopies}) and adopts `fd`. */
  override adopt(
    fd: number,
    network: Network,
    handler?: ConnectionHandler,
    copies: number[] = [],
  ): Promise<Listener> {
    for (const copy of copies) this.closeFd(copy);
    return super.adopt(fd, network, handler);
  }

  protected override async listenWith(
    options: ListenOptions | { fd: number },
    handler?: ConnectionHandler,
  ): Promise<Listener> {
    const listener = !handler || handler instanceof NetServer
      ? await super.listenWith(options, handler)
      : await super.listenWith(options, feederFor(handler));
    const fd = this.fdOf(listener);
    if (fd !== undefined) libc.setBacklog(fd, LISTEN_BACKLOG);
    return listener;
  }

  /**
   * `_handle.fd` of a `node:net` listener; for an HTTP(S) server the
   * application made listen by itself (and registered with `addListener`),
   * the fd is found through libc.
   */
  override fdOf(listener: Listener): number | undefined {
    return super.fdOf(listener) ?? this.#fds.find(listener);
  }

  /** A listening socket bound through libc, which no event loop polls. */
  override holdListener(spec: HoldSpec): Promise<HeldSocket> {
    return Promise.resolve(holdWithLibc(libc, spec));
  }

  /** Orphans are collected through libc's `waitid`/`waitpid`. */
  override reapOrphans(isOwn: (pid: number) => boolean): number[] {
    return libc.reapOrphans(isOwn);
  }

  override readonly canReapOrphans: boolean = true;

  override connectParent(fd: number): ParentLink {
    let gone = false;
    let markGone!: () => void;
    const gonePromise = new Promise<void>((resolve) => {
      markGone = () => {
        gone = true;
        resolve();
      };
    });
    const handlers: ((line: string) => void)[] = [];
    const splitter = new LineSplitter();
    const decoder = new TextDecoder();
    let pending = "";
    let flushed: (() => void)[] = [];
    const flush = (socket: BunSocket) => {
      while (pending) {
        const n = socket.write(pending);
        if (n <= 0) return;
        pending = pending.slice(n);
      }
      for (const done of flushed) done();
      flushed = [];
    };
    const connected = bun().connect({
      fd,
      socket: {
        data: (_socket, data) => {
          for (const line of splitter.push(decoder.decode(data, { stream: true }))) {
            for (const handler of [...handlers]) handler(line);
          }
        },
        drain: flush,
        end: markGone,
        close: markGone,
        error: markGone,
      },
    }).then((socket) => {
      socket.unref();
      return socket;
    }, () => {
      markGone();
      return undefined;
    });
    const send = async (line: string) => {
      const socket = await connected;
      // A parent that is already gone has nobody to tell: not an error.
      if (!socket || gone) return;
      pending += `${line}\n`;
      await new Promise<void>((resolve) => {
        flushed.push(resolve);
        flush(socket);
        gonePromise.then(resolve);
      });
    };
    return {
      gone: gonePromise,
      signalReady: () => send(READY_LINE.trimEnd()),
      send,
      onLine: (handler) => handlers.push(handler),
    };
  }

  /** `sendto` through libc: Bun has no unix datagram sockets either. */
  override sdNotify(socket: string, message: string): Promise<void> {
    return sendThroughLibc(socket, message, libc);
  }

  /** `clock_gettime` through libc: Bun's `process.hrtime` counts from process start. */
  override monotonicUsec(): bigint {
    return libc.monotonicMicros();
  }
}

/** The listener that feeds a Bun `http`/`https` server. */
function feederFor(handler: ConnectionHandler): Listener {
  const tlsOptions = httpsOptions(handler);
  if (!tlsOptions) {
    return acceptorFor(handler);
  }
  // node:tls is loaded here, on Bun, when an HTTPS server needs it: this module is loaded on
  // every runtime, and importing node:tls costs a Node process about 12 ms at each start.
  const tls = process.getBuiltinModule("node:tls") as typeof import("node:tls");
  const listener = tls.createServer(tlsOptions);
  listener.on("secureConnection", (socket: TLSSocket) => handler.emit("connection", socket));
  return listener;
}

/**
 * The TLS options a Bun `https.Server` was created with (Bun keeps them
 * under an internal `Symbol(options)` next to `Symbol(tls)`), or
 * `undefined` for a plain `http.Server`.
 */
function httpsOptions(handler: ConnectionHandler): Record<string, unknown> | undefined {
  const record = handler as unknown as Record<symbol, unknown>;
  const symbols = Object.getOwnPropertySymbols(handler);
  const tls = symbols.find((s) => s.description === "tls");
  if (!tls || !record[tls]) return undefined;
  const options = symbols.find((s) => s.description === "options");
  const found = options ? record[options] : undefined;
  if (typeof found !== "object" || found === null) {
    throw new TableflipError(
      "ERR_UNSUPPORTED",
      "cannot read the TLS options of this Bun https.Server; pass a tls.Server " +
        "that emits 'secureConnection' into it instead",
    );
  }
  return found as Record<string, unknown>;
}
