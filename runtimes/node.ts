/**
 * The Node.js backend. Built only on `node:` modules, so the Bun and Deno
 * backends extend it and override what differs on their runtime.
 *
 * @module
 */
import { spawn as spawnProcess } from "node:child_process";
import { closeSync, fstatSync } from "node:fs";
import { link, rename, rm, writeFile } from "node:fs/promises";
import { createServer, type ListenOptions, Socket } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import process from "node:process";
import type {
  Backend,
  ConnectionHandler,
  ExitStatus,
  FdLayout,
  FdType,
  Listener,
  ParentLink,
  SocketName,
  SpawnedChild,
  SpawnRequest,
} from "../src/backend.ts";
import type { ListenSpec, Network } from "../src/address.ts";
import { LineSplitter, READY_LINE } from "../src/protocol.ts";
import { procSocketName } from "./proc_net.ts";
import { type HeldSocket, holdWithBinder } from "./node_hold.ts";
import { LISTEN_BACKLOG } from "./listen_backlog.ts";
import { systemdNotify } from "./systemd_notify.ts";

/** Backend for Node.js (and the base of the Bun and Deno backends). */
export class NodeBackend implements Backend {
  readonly name: string = "node";

  pid(): number {
    return process.pid;
  }

  cwd(): string {
    return process.cwd();
  }

  getEnv(name: string): string | undefined {
    return process.env[name];
  }

  deleteEnv(name: string): void {
    delete process.env[name];
  }

  environment(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined) env[key] = value;
    }
    return env;
  }

  reexecArgv(): string[] {
    return [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  }

  onSignal(signal: string, handler: () => void): () => void {
    process.on(signal as NodeJS.Signals, handler);
    return () => process.off(signal as NodeJS.Signals, handler);
  }

  async listen(spec: ListenSpec, handler?: ConnectionHandler): Promise<Listener> {
    if (spec.network === "unix") return await this.listenUnix(spec.path, handler);
    const options: ListenOptions = { port: spec.port, exclusive: true };
    if (spec.host) options.host = spec.host;
    else if (spec.network === "tcp4") options.host = "0.0.0.0";
    else if (spec.network === "tcp6") options.host = "::";
    if (spec.network === "tcp6") options.ipv6Only = true;
    return await this.listenWith(options, handler);
  }

  /**
   * Adopts `fd`, and accepts on each of its `copies` too: libuv accepts one
   * connection per poll of a listening fd, so every copy is one more accept
   * per event-loop turn. Each copy is a plain `net` server feeding the same
   * handler (or the listener itself), closed when the listener's own handle
   * closes.
   */
  async adopt(
    fd: number,
    _network: Network,
    handler?: ConnectionHandler,
    copies: number[] = [],
  ): Promise<Listener> {
    const listener = await this.listenWith({ fd }, handler);
    await acceptOnCopies(listener, handler ?? listener, copies, (copy) => this.closeFd(copy));
    return listener;
  }

  /**
   * Whether `spawn` passes copies of listening sockets (`SpawnRequest.acceptCopies`)
   * for the child to accept on. The Bun and Deno backends do not.
   */
  protected readonly passesAcceptCopies: boolean = true;

  /**
   * Binds a unix socket without ever unlinking the path later: binds a temp
   * name (the one the runtime will unlink when the listener closes) and links
   * the real path to it. Fails like Go if the path already exists.
   */
  protected async listenUnix(path: string, handler?: ConnectionHandler): Promise<Listener> {
    const full = resolve(path);
    const temp = join(dirname(full), `.${basename(full)}.${process.pid}.${Date.now()}.tmp`);
    const listener = await this.listenWith({ path: temp }, handler);
    try {
      await link(temp, full);
    } catch (error) {
      await new Promise((done) => listener.close(done));
      throw error;
    } finally {
      await rm(temp, { force: true });
    }
    return listener;
  }

  /**
   * Makes `handler` listen with `options`; a handler that already listens
   * elsewhere (one server on several sockets) is fed by a plain `net` server.
   */
  protected listenWith(
    options: ListenOptions | { fd: number },
    handler?: ConnectionHandler,
  ): Promise<Listener> {
    const server = handler && !handler.listening && !used.has(handler)
      ? handler
      : acceptorFor(handler);
    used.add(server);
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => {
        server.off("listening", onListening);
        reject(error);
      };
      const onListening = () => {
        server.off("error", onError);
        resolve(server);
      };
      server.once("error", onError);
      server.once("listening", onListening);
      // Also positional: Node takes an fd listen's backlog only from there.
      server.listen({ backlog: LISTEN_BACKLOG, ...options } as ListenOptions, LISTEN_BACKLOG);
    });
  }

  fdOf(listener: Listener): number | undefined {
    const fd = (listener as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
    return typeof fd === "number" && fd >= 0 && listener.listening ? fd : undefined;
  }

  fdType(fd: number): FdType {
    try {
      return fstatSync(fd).isSocket() ? "socket" : "other";
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EBADF") return "closed";
      throw error;
    }
  }

  closeFd(fd: number): void {
    try {
      closeSync(fd);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EBADF") throw error;
    }
  }

  spawn(request: SpawnRequest): SpawnedChild {
    const layout: FdLayout = {
      fds: request.fds.map((_, i) => 3 + i),
      control: 3 + request.fds.length,
    };
    // Copies of listening sockets go after the control socket: layout.copies[i] for fds[i].
    const copies = request.fds.map((fd, i) =>
      Array<number>(this.passesAcceptCopies ? request.acceptCopies?.[i] ?? 0 : 0).fill(fd)
    );
    let next = layout.control + 1;
    if (copies.some((c) => c.length)) layout.copies = copies.map((c) => c.map(() => next++));
    const [file, ...args] = request.argv;
    const child = spawnProcess(file, args, {
      cwd: request.cwd,
      env: { ...request.env, ...request.manifestEnv(layout) },
      stdio: ["inherit", "inherit", "inherit", ...request.fds, "pipe", ...copies.flat()],
    });
    const control = child.stdio[layout.control] as Socket | null;
    const lines = control ? lineEvents(control) : undefined;
    const exited = new Promise<ExitStatus>((resolve) => {
      child.once("error", (error) => {
        if (child.pid === undefined) resolve({ code: null, signal: null, error });
      });
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
    return {
      pid: child.pid ?? 0,
      ready: lines ? lines.waitFor(READY_LINE.trimEnd()) : new Promise(() => {}),
      exited,
      kill: (signal) => {
        // process.kill, not child.kill: Deno's child.kill() makes the exit event report the
        // signal even when the child handled it and exited with a code of its own.
        if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
        try {
          process.kill(child.pid, signal as NodeJS.Signals);
        } catch {
          // Already gone.
        }
      },
      release: () => {
        child.unref();
        control?.unref();
      },
      send: (line) => {
        if (control && control.writable) control.write(`${line}\n`);
      },
      onLine: (handler) => lines?.handlers.push(handler),
    };
  }

  socketName(fd: number): SocketName | undefined {
    return procSocketName(fd);
  }

  /**
   * A listening socket this process holds without accepting on it (for a
   * supervisor): bound by a short-lived binder process (`node_hold.ts`).
   */
  holdListener(spec: ListenSpec): Promise<HeldSocket> {
    return holdWithBinder(spec);
  }

  /**
   * Whether {@link reapOrphans} can collect children this process did not
   * spawn. Node has no `waitpid` for foreign pids: false.
   */
  readonly canReapOrphans: boolean = false;

  /** Reaps exited orphans (PID 1 duty); Node cannot, so none. Returns the pids reaped. */
  reapOrphans(_isOwn: (pid: number) => boolean): number[] {
    return [];
  }

  connectParent(fd: number): ParentLink {
    const socket = new Socket({ fd, readable: true, writable: true });
    return socketLink(socket);
  }

  async createFile(path: string, data: string): Promise<void> {
    await writeFile(path, data, { flag: "wx", mode: 0o644 });
  }

  async rename(from: string, to: string): Promise<void> {
    await rename(from, to);
  }

  async removeFile(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  /** Through the `systemd-notify` tool: Node has no unix datagram sockets (see `systemd_notify.ts`). */
  sdNotify(socket: string, message: string): Promise<void> {
    return systemdNotify(socket, message);
  }

  /** `process.hrtime.bigint()`: libuv's `uv_hrtime`, CLOCK_MONOTONIC on Linux. */
  monotonicUsec(): bigint {
    return process.hrtime.bigint() / 1000n;
  }
}

/** Servers already given to a listen call (an http server can listen only once). */
const used = new WeakSet<ConnectionHandler>();

/**
 * Listens on each fd of `copies` with a plain `net` server that hands its
 * connections to `target`, and closes them all when `listener`'s handle
 * closes (however it is closed: `net.Server#close`, a drain's stop). A copy
 * that cannot be listened on is closed with `closeFd` and left out.
 */
async function acceptOnCopies(
  listener: Listener,
  target: ConnectionHandler,
  copies: number[],
  closeFd: (fd: number) => void,
): Promise<void> {
  if (copies.length === 0) return;
  const extra: Listener[] = [];
  for (const fd of copies) {
    const server = acceptorFor(target);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ fd, backlog: LISTEN_BACKLOG } as ListenOptions, LISTEN_BACKLOG, resolve);
      });
      extra.push(server);
    } catch {
      closeFd(fd);
    }
  }
  // net.Server#close closes the handle and drops it at once; its 'close' event waits for
  // every connection, so the copies follow the handle's own close instead.
  const handle = (listener as unknown as { _handle?: { close?: (...a: unknown[]) => unknown } })
    ._handle;
  if (!handle?.close) {
    for (const server of extra) server.close();
    return;
  }
  const close = handle.close;
  handle.close = function (this: unknown, ...args: unknown[]) {
    for (const server of extra) server.close();
    return close.apply(this, args);
  };
}

/**
 * The fields a `net.Server` applies to each connection it accepts (Node's
 * `onconnection` reads them from the server; `keepAliveInitialDelay` is kept
 * in seconds there, so it is copied as a field, not passed as an option).
 */
const ACCEPT_FIELDS = [
  "allowHalfOpen",
  "pauseOnConnect",
  "noDelay",
  "keepAlive",
  "keepAliveInitialDelay",
  "highWaterMark",
  "blockList",
] as const;

/**
 * A plain `net` server that accepts connections as `handler` would (its
 * half-open, pause-on-connect, no-delay, TCP keep-alive, buffer size and
 * block list settings) and hands each one to it, to accept on its behalf: on
 * another fd of the same socket, or on a second socket of a server that
 * listens already. Without this, a connection handed to an `http.Server` came
 * with `net`'s defaults, not http's (not half-open), and without the TCP
 * keep-alive or the block list the application set
 * (test/accept_copies.test.ts). `maxConnections` is not carried over: each
 * server counts its own connections.
 */
export function acceptorFor(handler?: ConnectionHandler): Listener {
  const server = createServer({ noDelay: true });
  if (!handler) return server;
  const from = handler as unknown as Record<string, unknown>;
  const to = server as unknown as Record<string, unknown>;
  for (const field of ACCEPT_FIELDS) if (from[field] !== undefined) to[field] = from[field];
  server.on("connection", (socket: Socket) => handler.emit("connection", socket));
  return server;
}

/** The child's end of the control socket over a `node:net` socket. */
export function socketLink(socket: Socket): ParentLink {
  socket.unref();
  const lines = lineEvents(socket);
  let gone = false;
  const gonePromise = new Promise<void>((resolve) => {
    const done = () => {
      gone = true;
      resolve();
    };
    socket.once("end", done);
    socket.once("close", done);
    socket.once("error", done);
  });
  const send = (line: string) =>
    new Promise<void>((resolve) => {
      // A parent that is already gone has nobody to tell: not an error.
      if (gone) return resolve();
      socket.write(`${line}\n`, () => resolve());
    });
  return {
    gone: gonePromise,
    signalReady: () => send(READY_LINE.trimEnd()),
    send,
    onLine: (handler) => lines.handlers.push(handler),
  };
}

/** The lines read from a control socket, handed to every handler in order. */
export interface LineEvents {
  /** Called with each complete line, without `\n`. */
  readonly handlers: ((line: string) => void)[];
  /** Resolves when `line` arrives; never rejects. */
  waitFor(line: string): Promise<void>;
}

/** Reads `stream` line by line; errors end the stream quietly (EOF is handled by the caller). */
export function lineEvents(stream: Socket): LineEvents {
  const handlers: ((line: string) => void)[] = [];
  const splitter = new LineSplitter();
  stream.on("data", (chunk: Buffer | string) => {
    for (const line of splitter.push(chunk.toString())) {
      for (const handler of [...handlers]) handler(line);
    }
  });
  stream.on("error", () => {});
  return {
    handlers,
    waitFor: (wanted) =>
      new Promise((resolve) => {
        const handler = (line: string) => {
          if (line !== wanted) return;
          handlers.splice(handlers.indexOf(handler), 1);
          resolve();
        };
        handlers.push(handler);
      }),
  };
}
