/**
 * An in-memory backend: no processes, no fds, no signals from the OS. It
 * plays both sides of the protocol: `spawn` makes a {@link FakeChild} whose
 * own `FakeBackend` holds the manifest in its environment and the passed fds
 * and the control socket in its fd table, so a second `Upgrader` can run the
 * next generation in the same process. Every backend method can be made to
 * fail ({@link FakeBackend.faults}), and every call is logged
 * ({@link FakeBackend.calls}).
 *
 * Listeners are {@link FakeListener}s in `memory` mode (the default), or
 * real `node:net` servers on ephemeral ports of 127.0.0.1 in `real` mode
 * (what the test kit uses, so that an application's clients can connect).
 *
 * @module
 */
import { createServer, type Server } from "node:net";
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
} from "../backend.ts";
import { formatAddress, type ListenSpec, type Network } from "../address.ts";
import { LineSplitter, READY_LINE } from "../protocol.ts";
import { type ChannelEnd, channelPair } from "./fake_channel.ts";
import { FakeChild } from "./fake_child.ts";
import { FakeFiles } from "./fake_files.ts";
import { FakeListener, type FakeSocket } from "./fake_listener.ts";
import { type FakeStep, Faults } from "./faults.ts";

/** What one fd of a fake process is. */
export type FakeFd =
  | { kind: "listener"; socket: FakeSocket }
  | { kind: "control"; end: ChannelEnd }
  | { kind: "socket" }
  | { kind: "file"; path?: string };

/** What fake processes share: pids, ports, bound addresses and the file system. */
export class FakeSystem {
  /** The in-memory file system. */
  readonly files: FakeFiles;
  #pid = 1000;
  #port = 40000;
  #socket = 0;
  readonly #bound = new Map<string, { socket: FakeSocket; holders: number }>();

  /** @param options.anyDirectory see {@link FakeFiles} */
  constructor(options: { anyDirectory?: boolean } = {}) {
    this.files = new FakeFiles(options);
  }

  /** @internal A fresh pid. */
  nextPid(): number {
    return ++this.#pid;
  }

  /** Whether a socket is bound at (network, host:port or path). */
  isBound(network: Network, address: string): boolean {
    return this.#bound.has(`${network === "unix" ? "unix" : "tcp"} ${address}`);
  }

  /** @internal Binds a new socket; fails with EADDRINUSE if taken. */
  bind(network: Network, host: string, port: number): FakeSocket {
    const realPort = network === "unix" ? 0 : port || ++this.#port;
    const key = `${network === "unix" ? "unix" : "tcp"} ${
      network === "unix" ? host : `${host}:${realPort}`
    }`;
    if (this.#bound.has(key)) {
      throw Object.assign(new Error(`EADDRINUSE: ${key}`), { code: "EADDRINUSE" });
    }
    const socket: FakeSocket = { id: ++this.#socket, network, host, port: realPort };
    this.#bound.set(key, { socket, holders: 0 });
    return socket;
  }

  /** @internal One more (or, with -1, one fewer) fd of `socket` is open somewhere. */
  hold(socket: FakeSocket, delta: 1 | -1): void {
    for (const [key, entry] of this.#bound) {
      if (entry.socket !== socket) continue;
      entry.holders += delta;
      if (entry.holders <= 0) this.#bound.delete(key);
    }
  }
}

/** Options for a {@link FakeBackend}. */
export interface FakeBackendOptions {
  /** Shared with other fake processes; default: a new one. */
  system?: FakeSystem;
  /** Working directory; default `/app` (created in the fake file system). */
  cwd?: string;
  /** The environment; default empty. */
  env?: Record<string, string>;
  /** What {@link Backend.reexecArgv} returns; default `["fake-runtime", "app.js"]`. */
  argv?: string[];
  /** `memory` (default): fake listeners; `real`: real sockets on ephemeral ports of 127.0.0.1. */
  sockets?: "memory" | "real";
  /** Called with every child this process spawns (e.g. to make it ready at once). */
  onSpawn?: (child: FakeChild) => void;
}

/** A fake process's backend. */
export class FakeBackend implements Backend {
  /** `fake`. */
  readonly name: string = "fake";
  /** What processes share (files, ports, pids). */
  readonly system: FakeSystem;
  /** Make the next call of a method fail: `faults.inject("createFile", error)`. */
  readonly faults: Faults = new Faults();
  /** Every backend method called, in order. */
  readonly calls: FakeStep[] = [];
  /** fds closed through {@link closeFd}, in order. */
  readonly closedFds: number[] = [];
  /** Children spawned, in order. */
  readonly children: FakeChild[] = [];
  /** Listeners handed out by `listen` and `adopt`, in order (closed ones included). */
  readonly listeners: Listener[] = [];
  readonly #pid: number;
  readonly #cwd: string;
  readonly #env: Map<string, string>;
  readonly #argv: string[];
  readonly #real: boolean;
  readonly #onSpawn: ((child: FakeChild) => void) | undefined;
  readonly #fds = new Map<number, FakeFd>();
  readonly #listenerFds = new WeakMap<Listener, number>();
  readonly #signals = new Map<string, Set<() => void>>();
  readonly #unclaimed: FakeChild[] = [];
  readonly #waiting: ((child: FakeChild) => void)[] = [];
  #status: ExitStatus | undefined;
  #resolveExit!: (status: ExitStatus) => void;
  /** @internal Signals received through a parent's `kill`. */
  readonly signalsReceived: string[] = [];
  /** @internal Whether the parent released this process. */
  released = false;
  /** @internal Resolves when this process exits. */
  readonly exitStatus: Promise<ExitStatus> = new Promise((r) => this.#resolveExit = r);

  /** A fake process with the given environment, working directory and sockets mode. */
  constructor(options: FakeBackendOptions = {}) {
    this.system = options.system ?? new FakeSystem();
    this.#pid = this.system.nextPid();
    this.#cwd = options.cwd ?? "/app";
    this.system.files.mkdir(this.#cwd);
    this.#env = new Map(Object.entries(options.env ?? {}));
    this.#argv = options.argv ?? ["fake-runtime", "app.js"];
    this.#real = options.sockets === "real";
    this.#onSpawn = options.onSpawn;
  }

  // --- the test's levers ------------------------------------------------------

  /** The fd table: fd number -> what it is. */
  get fds(): ReadonlyMap<number, FakeFd> {
    return this.#fds;
  }

  /** Whether this process is still running. */
  get alive(): boolean {
    return this.#status === undefined;
  }

  /** Opens an fd of `kind` (at `fd`, or the lowest free number >= 3) and returns its number. */
  open(kind: "file" | "socket", fd?: number, path?: string): number {
    const number = fd ?? this.#freeFd();
    this.#fds.set(number, kind === "file" ? { kind, path } : { kind });
    return number;
  }

  /** Delivers `signal` to the handlers installed with `onSignal`; returns how many ran. */
  signal(signal: string): number {
    const handlers = [...(this.#signals.get(signal) ?? [])];
    for (const handler of handlers) handler();
    return handlers.length;
  }

  /** The next child this process spawns (or one spawned and not yet taken). */
  nextChild(): Promise<FakeChild> {
    const child = this.#unclaimed.shift();
    if (child) return Promise.resolve(child);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /**
   * Ends this process: its fds close (its children see EOF on their control
   * sockets, so their `waitForParent()` resolves) and its parent sees it exit.
   */
  exit(status: ExitStatus = { code: 0, signal: null }): void {
    if (this.#status) return;
    this.#status = status;
    for (const fd of [...this.#fds.keys()]) this.#release(fd);
    this.#resolveExit(status);
  }

  /** @internal The child side of `ready()` without an Upgrader: the ready line on the control fd. */
  writeControl(): void {
    for (const entry of this.#fds.values()) {
      if (entry.kind === "control") entry.end.write(READY_LINE);
    }
  }

  // --- Backend ----------------------------------------------------------------

  /** This fake process's pid. */
  pid(): number {
    this.#call("pid");
    return this.#pid;
  }

  /** Its working directory (never changes). */
  cwd(): string {
    this.#call("cwd");
    return this.#cwd;
  }

  /** Reads its environment. */
  getEnv(name: string): string | undefined {
    this.#call("getEnv");
    return this.#env.get(name);
  }

  /** Removes a variable from its environment. */
  deleteEnv(name: string): void {
    this.#call("deleteEnv");
    this.#env.delete(name);
  }

  /** A copy of its environment. */
  environment(): Record<string, string> {
    this.#call("environment");
    return Object.fromEntries(this.#env);
  }

  /** The `argv` option (default `["fake-runtime", "app.js"]`). */
  reexecArgv(): string[] {
    this.#call("reexecArgv");
    return [...this.#argv];
  }

  /** Installs a handler that {@link FakeBackend.signal} runs; no real signal reaches it. */
  onSignal(signal: string, handler: () => void): () => void {
    this.#call("onSignal");
    let set = this.#signals.get(signal);
    if (!set) this.#signals.set(signal, set = new Set());
    set.add(handler);
    return () => set.delete(handler);
  }

  /** A fake listener (memory mode) or a real one on an ephemeral port (real mode). */
  async listen(spec: ListenSpec, handler?: ConnectionHandler): Promise<Listener> {
    this.#call("listen");
    await Promise.resolve();
    if (this.#real) return await this.#listenReal(spec, handler);
    const host = spec.network === "unix" ? spec.path : spec.host;
    if (spec.network === "unix" && this.system.files.entry(spec.path)) {
      throw Object.assign(new Error(`EADDRINUSE: ${spec.path} exists`), { code: "EADDRINUSE" });
    }
    const socket = this.system.bind(spec.network, host, spec.network === "unix" ? 0 : spec.port);
    return this.#track(new FakeListener(socket), { kind: "listener", socket });
  }

  /** A listener on the fake socket at `fd`; fails if `fd` is not a listening socket. */
  async adopt(fd: number, _network: Network, _handler?: ConnectionHandler): Promise<Listener> {
    this.#call("adopt");
    await Promise.resolve();
    const entry = this.#fds.get(fd);
    if (entry?.kind !== "listener") throw new Error(`fd ${fd} is not a listening socket`);
    const listener = new FakeListener(entry.socket);
    this.listeners.push(listener);
    this.#listenerFds.set(listener, fd);
    listener.once("close", () => this.#release(fd));
    return listener;
  }

  /** The fd of a listener this process opened or adopted, while it listens. */
  fdOf(listener: Listener): number | undefined {
    this.#call("fdOf");
    const fd = this.#listenerFds.get(listener);
    return fd !== undefined && this.#fds.has(fd) && listener.listening ? fd : undefined;
  }

  /** What its fd table holds at `fd`. */
  fdType(fd: number): FdType {
    this.#call("fdType");
    const entry = this.#fds.get(fd);
    if (!entry) return "closed";
    return entry.kind === "file" ? "other" : "socket";
  }

  /** sd_notify messages sent, in order (nothing leaves the process). */
  readonly notifications: { socket: string; message: string }[] = [];

  /** Records the message in {@link notifications}. */
  sdNotify(socket: string, message: string): Promise<void> {
    this.#call("sdNotify");
    this.notifications.push({ socket, message });
    return Promise.resolve();
  }

  /** A monotonic clock in µs (the real one: fake processes share the test's time). */
  monotonicUsec(): bigint {
    return BigInt(Math.round(performance.now() * 1000));
  }

  /** The address of a fake listening socket `fd`, as `getsockname` would give it. */
  socketName(fd: number): SocketName | undefined {
    this.#call("socketName");
    const entry = this.#fds.get(fd);
    if (entry?.kind !== "listener") return undefined;
    const { network, host, port } = entry.socket;
    if (network === "unix") return { network, address: host };
    return { network, address: formatAddress({ network, host, port }) };
  }

  /** Closes `fd` (a missing one is ignored, as EBADF is). */
  closeFd(fd: number): void {
    this.#call("closeFd");
    this.closedFds.push(fd);
    this.#release(fd);
  }

  /**
   * Makes a {@link FakeChild}: a new fake process whose environment holds the
   * manifest and whose fds 3, 4, ... are the passed ones, then the control
   * socket. Throws EBADF for an fd that is not open here.
   */
  spawn(request: SpawnRequest): SpawnedChild {
    this.#call("spawn");
    let startError: Error | undefined;
    try {
      this.faults.check("start");
    } catch (error) {
      startError = error as Error;
    }
    const layout: FdLayout = {
      fds: request.fds.map((_, i) => 3 + i),
      control: 3 + request.fds.length,
    };
    const passed = request.fds.map((fd) => {
      const entry = this.#fds.get(fd);
      if (!entry) throw Object.assign(new Error(`EBADF: fd ${fd} is not open`), { code: "EBADF" });
      return entry;
    });
    const env = { ...request.env, ...request.manifestEnv(layout) };
    const process = new FakeBackend({
      system: this.system,
      cwd: request.cwd,
      env,
      argv: request.argv,
      sockets: this.#real ? "real" : "memory",
    });
    const [mine, theirs] = channelPair();
    if (!startError) {
      passed.forEach((entry, i) => process.#place(layout.fds[i], entry));
      process.#place(layout.control, { kind: "control", end: theirs });
    }
    const controlFd = this.#freeFd();
    this.#place(controlFd, { kind: "control", end: mine });
    const child = new FakeChild(process, {
      argv: request.argv,
      cwd: request.cwd,
      env,
      parentFds: [...request.fds],
      layout,
    }, startError);
    // The parent's end goes when the child does (EOF), unless the upgrade succeeded.
    child.exited.then(() => {
      if (!process.released) this.#release(controlFd);
    });
    this.children.push(child);
    const waiter = this.#waiting.shift();
    if (waiter) waiter(child);
    else this.#unclaimed.push(child);
    this.#onSpawn?.(child);
    return spawnedChildOf(child, mine);
  }

  /** The child's end of the fake control socket at `fd`. */
  connectParent(fd: number): ParentLink {
    this.#call("connectParent");
    const entry = this.#fds.get(fd);
    if (entry?.kind !== "control") throw new Error(`fd ${fd} is not the control socket`);
    return parentLinkOf(entry.end);
  }

  /** Creates a file in the fake file system; fails if anything is there. */
  async createFile(path: string, data: string): Promise<void> {
    this.#call("createFile");
    await Promise.resolve();
    this.system.files.create(path, data);
  }

  /** Renames in the fake file system, replacing the target (a symlink itself). */
  async rename(from: string, to: string): Promise<void> {
    this.#call("rename");
    await Promise.resolve();
    this.system.files.rename(from, to);
  }

  /** Removes a file from the fake file system. */
  async removeFile(path: string): Promise<void> {
    this.#call("removeFile");
    await Promise.resolve();
    this.system.files.remove(path);
  }

  // --- internals --------------------------------------------------------------

  /** Logs the call and throws an injected fault for it, if any. */
  #call(step: FakeStep): void {
    this.calls.push(step);
    this.faults.check(step);
  }

  /** @internal A parent's `kill`: handlers run for catchable signals; else the process dies. */
  receiveSignal(signal: string): void {
    if (!this.alive) return;
    this.signalsReceived.push(signal);
    if (signal !== "SIGKILL" && this.signal(signal) > 0) return;
    this.exit({ code: null, signal });
  }

  #freeFd(): number {
    let fd = 3;
    while (this.#fds.has(fd)) fd++;
    return fd;
  }

  #place(fd: number, entry: FakeFd): void {
    this.#fds.set(fd, entry);
    if (entry.kind === "listener") this.system.hold(entry.socket, 1);
  }

  #release(fd: number): void {
    const entry = this.#fds.get(fd);
    if (!entry) return;
    this.#fds.delete(fd);
    if (entry.kind === "listener") this.system.hold(entry.socket, -1);
    if (entry.kind === "control") entry.end.close();
  }

  #track(listener: Listener, entry: FakeFd): Listener {
    const fd = this.#freeFd();
    this.#place(fd, entry);
    this.listeners.push(listener);
    this.#listenerFds.set(listener, fd);
    listener.once("close", () => this.#release(fd));
    return listener;
  }

  /** A real listener on 127.0.0.1 (or ::1 for tcp6), port 0, or the unix path given. */
  async #listenReal(spec: ListenSpec, handler?: ConnectionHandler): Promise<Listener> {
    const server: Server = handler && !handler.listening ? handler : createServer();
    if (server !== handler && handler) {
      server.on("connection", (socket) => handler.emit("connection", socket));
    }
    const options = spec.network === "unix"
      ? { path: spec.path }
      : { host: spec.network === "tcp6" ? "::1" : "127.0.0.1", port: 0 };
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const host = spec.network === "unix" ? spec.path : options.host ?? "";
    const socket = this.system.bind(spec.network, host, port);
    return this.#track(server, { kind: "listener", socket });
  }
}

/**
 * The parent's view of a fake child. One place builds it, so a method added
 * to `SpawnedChild` is added here.
 */
function spawnedChildOf(child: FakeChild, control: ChannelEnd): SpawnedChild {
  return {
    pid: child.pid,
    ready: control.waitFor(READY_LINE),
    exited: child.exited,
    kill: (signal) => child.backend.receiveSignal(signal),
    release: () => {
      child.backend.released = true;
    },
    send: (line) => void control.write(`${line}\n`),
    onLine: (handler) => onLines(control, handler),
  };
}

/** Calls `handler` with every complete line `end` receives from now on. */
function onLines(end: ChannelEnd, handler: (line: string) => void): void {
  const splitter = new LineSplitter();
  end.onData((text) => splitter.push(text).forEach(handler));
}

/**
 * The child's view of its parent over the fake control socket. One place
 * builds it, so a method added to `ParentLink` is added here.
 */
function parentLinkOf(control: ChannelEnd): ParentLink {
  return {
    gone: control.eof,
    signalReady: () => {
      // A parent that is already gone has nobody to tell: not an error.
      control.write(READY_LINE);
      return Promise.resolve();
    },
    send: (line) => {
      control.write(`${line}\n`);
      return Promise.resolve();
    },
    onLine: (handler) => onLines(control, handler),
  };
}
