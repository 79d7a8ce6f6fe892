/**
 * The upgrader: Go tableflip's `Upgrader`, in idiomatic TypeScript.
 *
 * @module
 */
import {
  type Backend,
  type ConnectionHandler,
  defaultBackend,
  type Listener,
  type ParentLink,
  type SpawnedChild,
} from "./backend.ts";
import { checkNetwork, formatAddress, type Network, parseAddress } from "./address.ts";
import {
  ChildDiedInProbationError,
  describeCause,
  NotReadyError,
  ParentAliveError,
  StoppedError,
  TableflipError,
  UpgradeInProgressError,
} from "./errors.ts";
import type { EventHook, UpgradeEvent } from "./events.ts";
import type { FdRegistry } from "./fds.ts";
import { inherit } from "./inherit.ts";
import { awaitReady, spawnNext, watchProbation } from "./next_generation.ts";
import { abortable, killAndWait } from "./race.ts";
import { ServiceNotify } from "./service_notify.ts";
import { listenToSupervisor, notHeldError, requestUpgrade } from "./supervised.ts";
import { resolvePidFile, writePidFile } from "./pid_file.ts";
import type { Manifest, SupervisorInfo } from "./protocol.ts";

/** Default for {@link UpgraderOptions.upgradeTimeout}: 60 s, as in Go's tableflip. */
export const DEFAULT_UPGRADE_TIMEOUT = 60_000;

/** Options for {@link Upgrader}. */
export interface UpgraderOptions {
  /**
   * Path of the PID file, written atomically at `ready()`. A relative path is
   * resolved against the initial working directory.
   */
  pidFile?: string;
  /** How long a new process may take to become ready, in ms. Default 60 000. */
  upgradeTimeout?: number;
  /**
   * Probation window in ms (default 0: off). After the new process reports
   * ready, this process keeps accepting alongside it for this long, and only
   * then settles {@link Upgrader.exit} and resolves `upgrade()`. If the new
   * process ends within the window, this process simply carries on: the PID
   * file is rewritten with its pid, a `probation-failed` event is emitted and
   * `upgrade()` rejects with a `ChildDiedInProbationError`
   * (`ERR_CHILD_DIED_IN_PROBATION`); a later upgrade may be tried.
   *
   * Connections the dying process had already accepted die with it; the
   * listening socket and its queue of not-yet-accepted connections do not.
   */
  probation?: number;
  /**
   * The command that starts the new generation: executable and arguments.
   * Default: the same runtime, runtime flags, script and arguments as this process.
   * Name another runtime here to switch runtimes during an upgrade.
   */
  command?: string[];
  /** Working directory of the new generation. Default: the initial working directory. */
  cwd?: string;
  /** Extra environment for the new generation, on top of this process's own. */
  env?: Record<string, string>;
  /** Receives lifecycle events (for logs and metrics). */
  onEvent?: EventHook;
  /** The runtime backend. Default: the one for the runtime this runs on. */
  backend?: Backend;
}

/** Options for a single {@link Upgrader.upgrade} call. */
export interface UpgradeOptions {
  /** Cancels this upgrade attempt; the child is killed and the call rejects. */
  signal?: AbortSignal;
}

type State = "running" | "upgrading" | "upgraded" | "stopped";

/**
 * Whether an Upgrader is active in this process, shared through a global
 * symbol so that two copies of the library (ESM and CommonJS) see each other.
 */
const ACTIVE = Symbol.for("tableflip.activeUpgrader");
const registry = globalThis as { [ACTIVE]?: () => boolean };

/**
 * Coordinates one process's part in a graceful upgrade: the listeners it
 * inherited or created, readiness, spawning the next generation and handing
 * over. Create exactly one per process.
 *
 * ```ts
 * const upg = new Upgrader({ pidFile: "app.pid" });
 * const server = http.createServer(handler);
 * await upg.listen("tcp", ":8080", server);
 * await upg.ready();
 * upg.upgradeOnSignal("SIGHUP");
 * await upg.exit; // a new generation took over: drain and exit
 * ```
 */
export class Upgrader {
  readonly #backend: Backend;
  readonly #options: UpgraderOptions;
  readonly #cwd: string;
  readonly #manifest: Manifest | undefined;
  readonly #fds: FdRegistry;
  readonly #parent: ParentLink | undefined;
  #parentGone = false;
  #ready = false;
  #state: State = "running";
  #abortUpgrade: AbortController | undefined;
  /** sd_notify to systemd (off without NOTIFY_SOCKET). */
  readonly #notify: ServiceNotify;
  /** Under a supervisor: the upgrade this process asked for, until it answers. */
  #pendingRequest: { resolve: () => void; reject: (error: TableflipError) => void } | undefined;
  readonly #exitController = new AbortController();
  readonly #exit: Promise<void>;
  #resolveExit!: () => void;

  /**
   * Reads and checks the inherited-fd manifest, if any. Throws a
   * `ManifestError` or `InheritedFdError` when it is malformed or names fds
   * that are not open or not what they claim; nothing is adopted then.
   */
  constructor(options: UpgraderOptions = {}) {
    const backend = options.backend ?? defaultBackend();
    if (registry[ACTIVE]?.()) {
      throw new TableflipError(
        "ERR_ALREADY_CREATED",
        "an Upgrader already exists in this process; call stop() on it first",
      );
    }
    checkTimeout(options.upgradeTimeout);
    checkProbation(options.probation);
    this.#backend = backend;
    this.#options = options;
    this.#cwd = backend.cwd();
    this.#exit = new Promise((resolve) => this.#resolveExit = resolve);

    const inherited = inherit(backend);
    this.#manifest = inherited.manifest;
    this.#fds = inherited.fds;
    this.#parent = inherited.parent;
    if (this.#parent && this.#manifest) {
      const { parentPid, supervisor } = this.#manifest;
      this.#parent.gone.then(() => {
        this.#parentGone = true;
        this.#emit({ type: "parent-gone", pid: parentPid });
        // Without its supervisor nobody can upgrade or stop this process: drain and exit.
        if (supervisor) this.stop();
      });
      if (supervisor) this.#superviseBy(this.#parent);
    }
    this.#notify = new ServiceNotify(
      backend,
      (error) => this.#emit({ type: "notify-failed", error }),
    );
    registry[ACTIVE] = () => this.#state !== "stopped";
  }

  /** 0 for the first process, one more for each upgrade since. */
  get generation(): number {
    return this.#manifest?.generation ?? 0;
  }

  /** Pid of this process. */
  get pid(): number {
    return this.#backend.pid();
  }

  /** The runtime backend in use (`node`, `bun` or `deno`). */
  get runtime(): string {
    return this.#backend.name;
  }

  /** Settles when a new generation took over or `stop()` ran: time to drain and exit. */
  get exit(): Promise<void> {
    return this.#exit;
  }

  /** Aborted at the same moment {@link exit} settles. */
  get exitSignal(): AbortSignal {
    return this.#exitController.signal;
  }

  /** True when this process was started by an upgrade (or by a supervisor). */
  hasParent(): boolean {
    return this.#manifest !== undefined;
  }

  /**
   * Set when a supervisor (`tableflip run`) started this process: which
   * worker it is and how many each generation has. `undefined` otherwise.
   */
  get supervisor(): SupervisorInfo | undefined {
    return this.#manifest?.supervisor;
  }

  /**
   * Resolves when the parent generation has exited (at once if there is
   * none, and under a supervisor, where no generation waits for another).
   */
  waitForParent(signal?: AbortSignal): Promise<void> {
    if (!this.#parent || this.supervisor) return Promise.resolve();
    return abortable(this.#parent.gone, signal);
  }

  /**
   * Returns the listener inherited under (network, address), or creates one.
   * With `handler` (an `http`, `https`, `tls` or `net` server), connections
   * accepted on the listener are served by it. A TCP address with port 0 is
   * registered under the real port it got.
   */
  async listen(network: Network, address: string, handler?: ConnectionHandler): Promise<Listener> {
    const existing = await this.listener(network, address, handler);
    if (existing) return existing;
    const spec = parseAddress(checkNetwork(network), address);
    this.#checkOpen();
    if (this.supervisor) throw this.#notHeld(network, address);
    let listener: Listener;
    try {
      listener = await this.#backend.listen(spec, handler);
    } catch (cause) {
      throw new TableflipError(
        "ERR_LISTEN",
        `cannot listen on ${network} ${address}${describeCause(cause)}`,
        { cause },
      );
    }
    const bound = spec.network === "unix" ? address : formatAddress({
      ...spec,
      port: (listener.address() as { port: number } | null)?.port ?? spec.port,
    });
    this.#fds.addListener(spec.network, bound, listener);
    return listener;
  }

  /**
   * Returns the listener inherited under (network, address), adopting it, or
   * the one already registered there; `undefined` if there is none.
   */
  async listener(
    network: Network,
    address: string,
    handler?: ConnectionHandler,
  ): Promise<Listener | undefined> {
    const spec = parseAddress(checkNetwork(network), address);
    const canonical = formatAddress(spec);
    const used = this.#fds.usedListener(spec.network, canonical);
    if (used) return used;
    const entry = this.#fds.claimListener(spec, canonical);
    if (!entry) return undefined;
    let listener: Listener;
    try {
      listener = await this.#backend.adopt(entry.fd, entry.network, handler, entry.copies);
    } catch (cause) {
      throw new TableflipError(
        "ERR_INHERITED_FD",
        `inherited fd ${entry.fd}: cannot adopt ${entry.network} listener ${entry.address}${
          describeCause(cause)
        }`,
        { cause },
      );
    }
    this.#fds.addListener(entry.network, entry.address, listener);
    return listener;
  }

  /** Registers a listener created elsewhere, so it is passed to the next generation. */
  addListener(network: Network, address: string, listener: Listener): void {
    const spec = parseAddress(checkNetwork(network), address);
    this.#fds.addListener(spec.network, formatAddress(spec), listener);
  }

  /** Returns the fd inherited under `name`, or `undefined`. */
  file(name: string): number | undefined {
    return this.#fds.claimFile(name);
  }

  /** Registers an fd under `name`, so it is passed to the next generation. */
  addFile(name: string, fd: number): void {
    if (!Number.isSafeInteger(fd) || fd < 0) {
      throw new TableflipError(
        "ERR_INVALID_ARGUMENT",
        `addFile(${JSON.stringify(name)}): bad fd ${fd}`,
      );
    }
    this.#fds.addFile(name, fd);
  }

  /**
   * Declares this process ready: closes inherited fds nobody claimed, writes
   * the PID file, and tells the parent (which then exits). Call it once
   * everything is listening.
   */
  async ready(): Promise<void> {
    this.#checkOpen();
    if (this.#ready) return;
    for (const entry of this.#fds.closeUnclaimed()) {
      // Where the fd and its copies sat is not part of what the entry is.
      const { fd, ...shape } = entry;
      if (shape.kind === "listener") delete shape.copies;
      this.#emit({ type: "fd-closed", fd, entry: shape });
    }
    await this.#writePidFile();
    await this.#parent?.signalReady();
    this.#ready = true;
    this.#emit({ type: "ready", pid: this.pid, generation: this.generation });
    // A later generation's parent tells systemd (MAINPID) when it takes over.
    if (!this.#manifest) this.#notify.ready(this.pid);
  }

  /**
   * Starts the next generation with this process's fds and resolves once it
   * is ready; {@link exit} settles at the same time. Rejects, leaving this
   * process serving, if another upgrade is running, this process is not ready
   * or its own parent is still alive, the upgrader is stopped, or the child
   * exits or does not become ready within `upgradeTimeout` (it is killed).
   * With a {@link UpgraderOptions.probation} window it resolves only after the
   * window, and rejects with `ERR_CHILD_DIED_IN_PROBATION` if the child ended
   * within it.
   */
  upgrade(options: UpgradeOptions = {}): Promise<void> {
    try {
      this.#checkCanUpgrade();
    } catch (error) {
      this.#emit({ type: "upgrade-failed", error: error as TableflipError });
      return Promise.reject(error);
    }
    this.#state = "upgrading";
    const abort = new AbortController();
    this.#abortUpgrade = abort;
    const outer = options.signal;
    const onOuterAbort = () => abort.abort(new StoppedError("the upgrade was aborted"));
    outer?.addEventListener("abort", onOuterAbort, { once: true });
    if (outer?.aborted) onOuterAbort();
    return this.#runUpgrade(abort.signal).then(
      () => {
        this.#state = "upgraded";
        this.#finish("upgraded");
      },
      (error: TableflipError) => {
        if (this.#state === "upgrading") this.#state = "running";
        this.#emit({ type: "upgrade-failed", error });
        if (!this.supervisor) this.#notify.failed(this.pid, this.generation, error);
        throw error;
      },
    ).finally(() => {
      outer?.removeEventListener("abort", onOuterAbort);
      this.#abortUpgrade = undefined;
    });
  }

  /**
   * Calls {@link upgrade} whenever this process receives `signal` (default
   * `SIGHUP`). Failures go to `onError` (and to `onEvent`). Returns a
   * function that removes the handler.
   */
  upgradeOnSignal(signal = "SIGHUP", onError?: (error: TableflipError) => void): () => void {
    return this.#backend.onSignal(signal, () => {
      this.upgrade().catch((error) => onError?.(error));
    });
  }

  /** Prevents further upgrades, cancels a running one, and settles {@link exit}. */
  stop(): void {
    if (this.#state === "stopped" || this.#state === "upgraded") return;
    this.#state = "stopped";
    this.#abortUpgrade?.abort(new StoppedError());
    this.#notify.stopping(this.pid);
    this.#finish("stopped");
  }

  #checkCanUpgrade(): void {
    if (this.#state === "upgrading") throw new UpgradeInProgressError();
    this.#checkOpen();
    if (!this.#ready) throw new NotReadyError();
    if (this.#manifest && !this.supervisor && !this.#parentGone) {
      throw new ParentAliveError(this.#manifest.parentPid);
    }
  }

  /**
   * Under a supervisor: its `drain` settles {@link exit} (or answers this
   * process's own request), its `failed` rejects that request, and SIGTERM
   * or SIGINT (which the supervisor passes on) stop this process gracefully.
   */
  #superviseBy(parent: ParentLink): void {
    listenToSupervisor(parent, {
      drain: () => {
        if (this.#pendingRequest) return this.#pendingRequest.resolve();
        if (this.#state === "stopped" || this.#state === "upgraded") return;
        this.#state = "upgraded";
        this.#finish("upgraded");
      },
      failed: (error) => this.#pendingRequest?.reject(error),
    });
    for (const signal of ["SIGTERM", "SIGINT"]) this.#backend.onSignal(signal, () => this.stop());
  }

  /** Asks the supervisor for the upgrade and waits for its answer (see {@link upgrade}). */
  async #askSupervisor(parent: ParentLink, signal: AbortSignal): Promise<void> {
    const answer = new Promise<void>((resolve, reject) => {
      this.#pendingRequest = { resolve, reject };
    });
    try {
      await requestUpgrade(parent);
      await abortable(answer, signal);
    } finally {
      this.#pendingRequest = undefined;
    }
  }

  #notHeld(network: Network, address: string): TableflipError {
    const held = this.#fds.unclaimedListeners().map((e) => `${e.network} ${e.address}`);
    return notHeldError(network, address, held);
  }

  #checkOpen(): void {
    if (this.#state === "stopped") throw new StoppedError();
    if (this.#state === "upgraded") throw new StoppedError("this process already handed over");
  }

  async #runUpgrade(signal: AbortSignal): Promise<void> {
    if (this.supervisor && this.#parent) return await this.#askSupervisor(this.#parent, signal);
    const generation = this.generation + 1;
    this.#emit({ type: "upgrade-started", generation });
    this.#notify.reloading(generation);
    const { child, passed } = spawnNext(this.#backend, this.#fds, {
      generation,
      command: this.#options.command,
      cwd: this.#options.cwd ?? this.#cwd,
      env: this.#options.env,
    });
    if (child.pid) this.#emit({ type: "child-spawned", pid: child.pid, fds: passed });
    try {
      await awaitReady(child, this.#options.upgradeTimeout ?? DEFAULT_UPGRADE_TIMEOUT, signal);
      if (this.#state !== "upgrading") {
        // stop() ran in the same tick: the child must not take over.
        await killAndWait(child);
        throw new StoppedError();
      }
      if (this.#options.probation) await this.#probation(child, this.#options.probation, signal);
    } catch (error) {
      // The child may have written its pid to the PID file before it died or was stopped.
      if (!(error instanceof ChildDiedInProbationError)) await this.#restorePidFile();
      throw error;
    }
    child.release();
    this.#emit({ type: "child-ready", pid: child.pid });
    await this.#notify.handedOver(child.pid, generation);
  }

  /**
   * Both generations accept for `ms`. Returns when the child survived it;
   * throws, with this process serving on and the PID file naming it again,
   * when the child ended or the upgrade was aborted (the child is killed then).
   */
  async #probation(child: SpawnedChild, ms: number, signal: AbortSignal): Promise<void> {
    this.#emit({ type: "probation-started", pid: child.pid, ms });
    const outcome = await watchProbation(child, ms, signal);
    if (outcome.kind === "survived" && this.#state === "upgrading") return;
    if (outcome.kind !== "exited") {
      await killAndWait(child);
      throw outcome.kind === "aborted" && outcome.reason instanceof TableflipError
        ? outcome.reason
        : new StoppedError();
    }
    const pidFileError = await this.#restorePidFile();
    const { code, signal: killedBy } = outcome.status;
    this.#emit({
      type: "probation-failed",
      pid: child.pid,
      exitCode: code,
      signal: killedBy,
      pidFileRestored: this.#options.pidFile !== undefined && !pidFileError,
    });
    throw new ChildDiedInProbationError(child.pid, code, killedBy, ms, pidFileError);
  }

  /** Writes this process's pid to the PID file, if one is configured. */
  async #writePidFile(): Promise<void> {
    if (this.#options.pidFile === undefined) return;
    const path = resolvePidFile(this.#options.pidFile, this.#cwd);
    await writePidFile(this.#backend, path, this.#backend.pid());
  }

  /**
   * Points the PID file back at this process (a child wrote its own pid at
   * ready()). Returns the error instead of throwing it.
   */
  async #restorePidFile(): Promise<TableflipError | undefined> {
    try {
      await this.#writePidFile();
      return undefined;
    } catch (error) {
      return error instanceof TableflipError
        ? error
        : new TableflipError("ERR_PID_FILE", `cannot restore the PID file${describeCause(error)}`);
    }
  }

  #finish(reason: "upgraded" | "stopped"): void {
    this.#emit({ type: "exiting", reason });
    this.#exitController.abort();
    this.#resolveExit();
  }

  #emit(event: UpgradeEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A broken logger must not break an upgrade.
    }
  }
}

function checkTimeout(timeout: number | undefined): void {
  if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0)) {
    throw new TableflipError(
      "ERR_INVALID_ARGUMENT",
      `upgradeTimeout must be a positive number of ms, got ${timeout}`,
    );
  }
}

function checkProbation(probation: number | undefined): void {
  if (probation !== undefined && !(Number.isFinite(probation) && probation >= 0)) {
    throw new TableflipError(
      "ERR_INVALID_ARGUMENT",
      `probation must be a non-negative number of ms, got ${probation}`,
    );
  }
}
