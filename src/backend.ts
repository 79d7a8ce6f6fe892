/**
 * The contract between the runtime-agnostic core and a runtime backend.
 * Everything that differs between Node, Bun and Deno sits behind this
 * interface; `runtimes/` holds one implementation per runtime.
 *
 * @module
 */
import type { Server } from "node:net";
import type { ListenSpec, Network } from "./address.ts";
import { TableflipError } from "./errors.ts";

/** A listening socket as the core sees it: a `node:net` server, on every runtime. */
export type Listener = Server;

/** Something that can serve connections accepted on a listener (an `http`, `https`, `tls` or `net` server). */
export type ConnectionHandler = Server;

/** How a child process ended. */
export interface ExitStatus {
  /** Exit code, or `null` if a signal ended it or it never started. */
  code: number | null;
  /** Signal name, or `null`. */
  signal: string | null;
  /** Set when the process could not be started at all. */
  error?: Error;
}

/** Where the spawner placed the fds in the child. */
export interface FdLayout {
  /** Child-side fd number of each passed fd, in the order given. */
  fds: number[];
  /** Child-side fd number of the control socket. */
  control: number;
  /**
   * Child-side fd numbers of the copies of each passed fd (in the order
   * given), where the backend passed some (`SpawnRequest.acceptCopies`).
   */
  copies?: number[][];
}

/** What the core asks a backend to start. */
export interface SpawnRequest {
  /** Executable and arguments. */
  argv: string[];
  /** Working directory of the child. */
  cwd: string;
  /** Complete environment of the child, without the manifest. */
  env: Record<string, string>;
  /** Parent-side fds to pass. */
  fds: number[];
  /**
   * For each fd, how many more copies of it to pass (listening sockets: see
   * `ACCEPT_COPIES`); a backend may pass fewer, or none.
   */
  acceptCopies?: number[];
  /** Returns the extra environment (the manifest) once the layout is known. */
  manifestEnv(layout: FdLayout): Record<string, string>;
}

/** A child as seen from the parent. */
export interface SpawnedChild {
  /** Its pid (0 if it could not be started). */
  readonly pid: number;
  /** Resolves when the child writes the ready line; never rejects. */
  readonly ready: Promise<void>;
  /** Resolves when the child ends (or fails to start). */
  readonly exited: Promise<ExitStatus>;
  /** Sends a signal. */
  kill(signal: string): void;
  /**
   * The upgrade succeeded: stop tracking the child so this process can exit,
   * but keep the control socket open until exit (the child sees EOF then).
   */
  release(): void;
  /** Writes one line (without `\n`) to the child on the control socket; ignored once it is gone. */
  send(line: string): void;
  /** Calls `handler` with every line the child writes on the control socket, `ready` included. */
  onLine(handler: (line: string) => void): void;
}

/** The child's end of the control socket. */
export interface ParentLink {
  /** Writes the ready line. */
  signalReady(): Promise<void>;
  /** Resolves when the parent process is gone (EOF on the control socket). */
  readonly gone: Promise<void>;
  /** Writes one line (without `\n`) to the parent; resolves once written (or the parent is gone). */
  send(line: string): Promise<void>;
  /** Calls `handler` with every line the parent writes (a supervisor's `drain`, `stop`, ...). */
  onLine(handler: (line: string) => void): void;
}

/** What a listening socket fd turned out to be bound to. */
export interface SocketName {
  /** `tcp4`/`tcp6` for IP sockets (by family), `unix` for unix sockets. */
  network: Network;
  /** Go-style address: `127.0.0.1:8080`, `[::]:8080`, or the socket path. */
  address: string;
}

/** What an fd turned out to be. */
export type FdType = "socket" | "other" | "closed";

/** One runtime's implementation of everything the core cannot do portably. */
export interface Backend {
  /** `node`, `bun` or `deno`. */
  readonly name: string;
  /** This process's pid. */
  pid(): number;
  /** The current working directory. */
  cwd(): string;
  /** Reads an environment variable. */
  getEnv(name: string): string | undefined;
  /** Removes an environment variable from this process. */
  deleteEnv(name: string): void;
  /** A copy of the whole environment. */
  environment(): Record<string, string>;
  /** The command line that starts this program again: executable, runtime flags, script, args. */
  reexecArgv(): string[];
  /** Installs a signal handler; returns a function that removes it. */
  onSignal(signal: string, handler: () => void): () => void;

  /** Binds a fresh listener. */
  listen(spec: ListenSpec, handler?: ConnectionHandler): Promise<Listener>;
  /**
   * Adopts an inherited listening fd, and accepts on its `copies` (more fds
   * of the same socket) too, or closes them where that gains nothing.
   */
  adopt(
    fd: number,
    network: Network,
    handler?: ConnectionHandler,
    copies?: number[],
  ): Promise<Listener>;
  /** The fd behind a listener, if it still has one. */
  fdOf(listener: Listener): number | undefined;
  /** Whether `fd` is open, and whether it is a socket. */
  fdType(fd: number): FdType;
  /** Closes a raw fd. */
  closeFd(fd: number): void;
  /**
   * What the listening socket `fd` is bound to; `undefined` if `fd` is not a
   * listening TCP or unix socket. Used for sockets passed by systemd.
   */
  socketName(fd: number): SocketName | undefined;

  /** Starts the next generation. */
  spawn(request: SpawnRequest): SpawnedChild;
  /** Opens the child's end of the control socket. */
  connectParent(fd: number): ParentLink;

  /** Creates `path` with `data`; fails if it exists. */
  createFile(path: string, data: string): Promise<void>;
  /** Renames a file, replacing the target (not following a symlink at the target). */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; ignores a missing one. */
  removeFile(path: string): Promise<void>;

  /**
   * Sends one sd_notify datagram (`message`, e.g. `READY=1`) to `socket`, a
   * `NOTIFY_SOCKET` value (absolute path or `@abstract`); rejects with a
   * `TableflipError` (`ERR_NOTIFY`) when it could not be sent.
   */
  sdNotify(socket: string, message: string): Promise<void>;
  /** CLOCK_MONOTONIC now, in microseconds (what sd_notify's `MONOTONIC_USEC` takes). */
  monotonicUsec(): bigint;
}

let defaultFactory: (() => Backend) | undefined;
let defaultInstance: Backend | undefined;

/**
 * Overrides how the default backend is made, for every `Upgrader` created
 * without a `backend` option from now on (`undefined` restores the entry
 * point's choice).
 */
export function setDefaultBackend(factory: (() => Backend) | undefined): void {
  defaultFactory = factory;
  defaultInstance = undefined;
}

/**
 * The default backend, made once: by the factory given to
 * {@link setDefaultBackend}, else by `fallback`. The core never picks a
 * runtime itself (`src/` does not import `runtimes/`): the entry points
 * (`mod.ts` and whatever else starts an Upgrader) pass the runtime's factory
 * as `fallback`. The choice is made here, lazily, when the first Upgrader is
 * created, not as an import side effect, so the package can be marked
 * `sideEffects: false`. Throws `ERR_UNSUPPORTED` when neither is there.
 */
export function defaultBackend(fallback?: () => Backend): Backend {
  if (defaultInstance) return defaultInstance;
  const factory = defaultFactory ?? fallback;
  if (!factory) {
    throw new TableflipError(
      "ERR_UNSUPPORTED",
      "no runtime backend: pass the `backend` option, or import Upgrader from the package's " +
        "entry point (tableflip), which picks the one for this runtime",
    );
  }
  return defaultInstance = factory();
}
