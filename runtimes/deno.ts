/**
 * The Deno backend: the Node backend (Deno runs `node:` modules) with
 * Deno's differences, most of them handled through libc (`libc/deno.ts`):
 *
 * - TCP listeners expose no fd: it is found among the open fds by
 *   `SO_ACCEPTCONN` and `getsockname` (`listener_fds.ts`).
 * - `node:fs` cannot `fstat`/`close` fds inherited from a non-Deno parent
 *   (EBADF): libc does.
 * - Inherited fds are not close-on-exec, and neither is an adopted (or
 *   freshly bound) listener: it is set on every fd the manifest names
 *   (listeners, files, the control socket) once the manifest is consumed,
 *   and on every listener, so processes the application spawns inherit none.
 * - `node:child_process.spawn` clears `O_NONBLOCK` on the fds it passes,
 *   which are shared with this process's own listeners: it is restored at
 *   once. It also dies on an fd passed twice: a copy is passed instead.
 * - A Deno child of a Deno parent holds the runtime's own copies of its
 *   extra fds: they are pointed at /dev/null when a listener is adopted or
 *   closed, or a closed listener would keep accepting.
 * - `Deno.args` holds only the script's arguments: the command line is
 *   rebuilt from `/proc/self/cmdline` with the same runtime flags (and `run`,
 *   which Deno 2 lets users omit). Deno's `child_process` adds `-A` to a
 *   Deno command line without any permission flag, so a restricted process
 *   stays restricted only because its own flags are passed on.
 * - sd_notify datagrams go through libc `sendto`, and `MONOTONIC_USEC`
 *   through libc `clock_gettime`: Deno's `process.hrtime.bigint()` counts
 *   from process start. Reading `NOTIFY_SOCKET` needs `--allow-env=NOTIFY_SOCKET`.
 *
 * Permissions: `--allow-ffi` (libc; scope it to libc's path) and
 * `--allow-env` (at least `=TABLEFLIP_MANIFEST`) always; to upgrade, also
 * `--allow-run=<next executable>` and `--allow-env` (the environment is
 * passed on); plus what the application's own listeners and PID file need
 * (`--allow-net`, `--allow-read`/`--allow-write`). A missing one fails with a
 * `PermissionError` naming it.
 *
 * @module
 */
import type {
  ConnectionHandler,
  FdType,
  Listener,
  ParentLink,
  SocketName,
  SpawnedChild,
  SpawnRequest,
} from "../src/backend.ts";
import { copiesOf, decodeManifest, MANIFEST_ENV } from "../src/protocol.ts";
import type { ListenSpec, Network } from "../src/address.ts";
import { PermissionError, SyscallError, TableflipError } from "../src/errors.ts";
import { libc } from "./libc/deno.ts";
import { ListenerFds } from "./listener_fds.ts";
import { sendThroughLibc } from "./libc/sd_notify.ts";
import { NodeBackend } from "./node.ts";
import { holdWithLibc } from "./libc/hold.ts";
import type { HeldSocket } from "./node_hold.ts";

/** The slice of the `Deno` namespace this file uses. */
interface DenoGlobal {
  args: string[];
  execPath(): string;
  errors: { NotCapable?: new () => Error; PermissionDenied: new () => Error };
  permissions: { querySync(descriptor: { name: "run"; command: string }): { state: string } };
}

function deno(): DenoGlobal {
  const found = (globalThis as unknown as { Deno?: DenoGlobal }).Deno;
  if (!found) throw new TableflipError("ERR_UNSUPPORTED", "the Deno backend runs only on Deno");
  return found;
}

function isPermissionError(error: unknown): boolean {
  const errors = deno().errors;
  return (errors.NotCapable !== undefined && error instanceof errors.NotCapable) ||
    error instanceof errors.PermissionDenied;
}

/** Deno subcommands that run a script and can be re-executed as they are. */
const SCRIPT_SUBCOMMANDS = new Set(["run", "serve"]);

const EBADF = 9;

/** Longest a blocking accept() on a listener passed by Deno's spawn may wait, in µs. */
const BLOCKED_ACCEPT_LIMIT_US = 50_000;

/** Backend for Deno. */
export class DenoBackend extends NodeBackend {
  override readonly name: string = "deno";
  /** fds of listeners that do not expose theirs. */
  readonly #fds = new ListenerFds(libc);

  /**
   * Binds libc at once: every Deno upgrade path needs it, so a missing
   * `--allow-ffi` fails here with a `PermissionError`, not halfway through.
   */
  constructor() {
    super();
    libc.load();
  }

  override getEnv(name: string): string | undefined {
    try {
      return super.getEnv(name);
    } catch (error) {
      throw permissionOr(error, `--allow-env=${name}`, `reading ${name}`);
    }
  }

  /**
   * Removing the manifest is the moment this process takes the fds it names:
   * each is made close-on-exec first, so a process the application spawns
   * inherits none of them (Deno leaves inherited fds inheritable).
   */
  override deleteEnv(name: string): void {
    if (name === MANIFEST_ENV) this.#closeOnExecInherited();
    try {
      super.deleteEnv(name);
    } catch (error) {
      throw permissionOr(error, `--allow-env=${name}`, `removing ${name}`);
    }
  }

  override environment(): Record<string, string> {
    try {
      return super.environment();
    } catch (error) {
      throw permissionOr(error, "--allow-env", "passing the environment to the new process");
    }
  }

  /**
   * `[deno, run, ...flags, script, ...args]` rebuilt from
   * `/proc/self/cmdline`; `[executable, ...args]` for a `deno compile` binary.
   */
  override reexecArgv(): string[] {
    const cmdline = new TextDecoder().decode(libc.readFile("/proc/self/cmdline")).split("\0");
    if (cmdline.at(-1) === "") cmdline.pop();
    const args = deno().args;
    const middle = cmdline.slice(1, cmdline.length - args.length);
    if (middle.length > 0 && !SCRIPT_SUBCOMMANDS.has(middle[0])) middle.unshift("run");
    return [deno().execPath(), ...middle, ...args];
  }

  override async listen(spec: ListenSpec, handler?: ConnectionHandler): Promise<Listener> {
    const listener = await super.listen(spec, handler);
    const fd = this.fdOf(listener);
    if (fd !== undefined) libc.setCloseOnExec(fd);
    return listener;
  }

  /**
   * Deno's listeners accept promptly (`bench/README.md`, the accept section),
   * and its spawn dies on an fd passed twice: it neither passes nor uses copies.
   */
  protected override readonly passesAcceptCopies: boolean = false;

  /** Closes the `copies` (see {@link passesAcceptCopies}) and adopts `fd`. */
  override async adopt(
    fd: number,
    network: Network,
    handler?: ConnectionHandler,
    copies: number[] = [],
  ): Promise<Listener> {
    // Only a Node parent passes copies, so the runtime holds none of its own to drop (and
    // closeFd's drop would point `fd`, the same socket, at /dev/null).
    for (const copy of copies) closeQuietly(copy);
    this.#dropRuntimeCopies(fd);
    const listener = await super.adopt(fd, network, handler);
    // Deno listens on the fd itself (no copy) and leaves it inheritable.
    libc.setCloseOnExec(fd);
    this.#fds.remember(listener, fd);
    return listener;
  }

  override fdOf(listener: Listener): number | undefined {
    return super.fdOf(listener) ?? this.#fds.find(listener);
  }

  /**
   * A Deno child of a Deno parent (`DENO_EXTRA_STDIO_FDS`) starts with a
   * close-on-exec copy of every extra stdio fd, owned by the runtime: a
   * listener closed by tableflip would keep accepting through it. Point
   * those copies at /dev/null (the runtime may still close them safely).
   */
  #dropRuntimeCopies(fd: number): void {
    let target: string;
    try {
      target = libc.fdTarget(fd);
    } catch {
      return;
    }
    if (!target.startsWith("socket:")) return;
    for (const other of libc.openFds()) {
      if (other === fd || !libc.isCloseOnExec(other)) continue;
      let otherTarget: string;
      try {
        otherTarget = libc.fdTarget(other);
      } catch {
        continue;
      }
      if (otherTarget === target) libc.nullify(other);
    }
  }

  /** A listening socket bound through libc, which no event loop polls. */
  override holdListener(spec: ListenSpec): Promise<HeldSocket> {
    return Promise.resolve(holdWithLibc(libc, spec));
  }

  /** Orphans are collected through libc's `waitid`/`waitpid`. */
  override reapOrphans(isOwn: (pid: number) => boolean): number[] {
    return libc.reapOrphans(isOwn);
  }

  override readonly canReapOrphans: boolean = true;

  /** `getsockname` through libc (Deno's `node:fs` needs `--allow-read` for `/proc`). */
  override socketName(fd: number): SocketName | undefined {
    if (!libc.isListeningSocket(fd)) return undefined;
    const bound = libc.socketAddress(fd);
    switch (bound.family) {
      case "IPv4":
        return { network: "tcp4", address: `${bound.address}:${bound.port}` };
      case "IPv6":
        return { network: "tcp6", address: `[${bound.address}]:${bound.port}` };
      case "unix":
        return bound.path ? { network: "unix", address: bound.path } : undefined;
      default:
        return undefined;
    }
  }

  /** The control socket, made close-on-exec (a grandchild must not keep the parent's EOF away). */
  override connectParent(fd: number): ParentLink {
    libc.setCloseOnExec(fd);
    return super.connectParent(fd);
  }

  #closeOnExecInherited(): void {
    const text = super.getEnv(MANIFEST_ENV);
    if (text === undefined) return;
    const manifest = decodeManifest(text);
    const copies = manifest.fds.flatMap(copiesOf);
    for (const fd of [...manifest.fds.map((e) => e.fd), ...copies, manifest.control]) {
      if (libc.isOpen(fd)) libc.setCloseOnExec(fd);
    }
  }

  override fdType(fd: number): FdType {
    if (!libc.isOpen(fd)) return "closed";
    return libc.isSocket(fd) ? "socket" : "other";
  }

  override closeFd(fd: number): void {
    if (libc.isOpen(fd)) this.#dropRuntimeCopies(fd);
    closeQuietly(fd);
  }

  /** Spawns as Node does, then puts back the fd status flags Deno's spawn cleared. */
  override spawn(request: SpawnRequest): SpawnedChild {
    const command = request.argv[0];
    if (deno().permissions.querySync({ name: "run", command }).state !== "granted") {
      throw new PermissionError(`--allow-run=${command}`, "starting the new process");
    }
    // Deno's spawn fails (asynchronously, uncaught) when one fd is passed twice: pass copies.
    const seen = new Set<number>();
    const copies: number[] = [];
    const fds = request.fds.map((fd) => {
      if (!seen.has(fd)) {
        seen.add(fd);
        return fd;
      }
      const copy = libc.dupCloseOnExec(fd);
      copies.push(copy);
      return copy;
    });
    const flags = fds.map((fd) => libc.getFlags(fd));
    // Deno's spawn clears O_NONBLOCK on the passed fds until it is put back below, and
    // with a Deno child that window reached other processes accepting on the same
    // socket (a serving generation under a supervisor): they blocked in accept() until
    // the next connection came, stalling their requests for seconds. A receive timeout
    // on the listening socket bounds such a blocking accept; non-blocking ones never wait.
    for (const fd of fds) {
      if (libc.isListeningSocket(fd)) libc.setAcceptTimeout(fd, BLOCKED_ACCEPT_LIMIT_US);
    }
    let child: SpawnedChild;
    try {
      child = super.spawn({ ...request, fds });
    } catch (error) {
      throw permissionOr(error, `--allow-run=${command}`, "starting the new process");
    } finally {
      fds.forEach((fd, i) => {
        if (libc.isOpen(fd) && libc.getFlags(fd) !== flags[i]) libc.setFlags(fd, flags[i]);
      });
      for (const copy of copies) libc.close(copy);
    }
    return child;
  }

  /** `sendto` through libc: `Deno.listenDatagram` (unixpacket) needs `--unstable-net` and a bound path. */
  override sdNotify(socket: string, message: string): Promise<void> {
    return sendThroughLibc(socket, message, libc);
  }

  /** `clock_gettime` through libc: Deno's `process.hrtime` counts from process start. */
  override monotonicUsec(): bigint {
    return libc.monotonicMicros();
  }
}

/** A `PermissionError` naming `flag` if `error` is Deno's permission error, else `error`. */
function permissionOr(error: unknown, flag: string, what: string): unknown {
  return isPermissionError(error) ? new PermissionError(flag, what, { cause: error }) : error;
}

/** `close(fd)` through libc; an fd that is not open is not an error. */
function closeQuietly(fd: number): void {
  try {
    libc.close(fd);
  } catch (error) {
    if (!(error instanceof SyscallError && error.errno === EBADF)) throw error;
  }
}
