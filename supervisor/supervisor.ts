/**
 * The supervisor behind `tableflip run`: a stable process that holds the
 * listening sockets and runs the service's generations on them. Its pid
 * never changes. An upgrade starts a new generation and tells the old one to
 * drain only once the new one is ready; a generation that dies while serving
 * is restarted on the same sockets (connections wait in the backlog), with
 * back-off, until a crash loop ends the supervisor.
 *
 * @module
 */
import type { ExitStatus } from "../src/backend.ts";
import {
  ChildExitedError,
  ChildTimeoutError,
  describeCause,
  StoppedError,
  TableflipError,
  UpgradeInProgressError,
} from "../src/errors.ts";
import { LINES, MANIFEST_ENV } from "../src/protocol.ts";
import { encodeFailure } from "../src/supervised.ts";
import { writePidFile } from "../src/pid_file.ts";
import type { SupervisorBackend } from "./backend.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { Generation } from "./generation.ts";
import { type HeldListener, holdListeners } from "./held.ts";
import type { ListenRequest } from "./listen_spec.ts";
import type { StatusReport } from "./status.ts";

/** Service-manager notifications (sd_notify); every method may be a no-op. */
export interface SupervisorNotifier {
  ready(status: string): void;
  reloading(status: string): void;
  stopping(status: string): void;
}

/** Settings of a {@link Supervisor}. */
export interface SupervisorOptions {
  /** The command that starts one generation. */
  command: string[];
  /** Addresses to hold besides those systemd passes. */
  listen: ListenRequest[];
  /** Where to write the supervisor's pid (absolute path). */
  pidFile?: string;
  /** How long a new generation may take to become ready, in ms. */
  upgradeTimeout: number;
  /** How long a generation may drain (after an upgrade, or on stop) before SIGKILL, in ms. */
  drainTimeout: number;
  /** Most generations draining at once; an upgrade beyond it is refused. */
  maxDraining: number;
  /** Restart policy for a generation that dies while serving. */
  backoff: BackoffOptions;
  /** Working directory of the generations. */
  cwd: string;
  /** One line of log; the CLI writes it to stderr. */
  log(message: string): void;
  backend: SupervisorBackend;
  notifier?: SupervisorNotifier;
}

/** The answer to an upgrade request. */
export type UpgradeResult =
  | { ok: true; generation: number; pid: number }
  | { ok: false; code: string; message: string };

/** Environment variables the generations must not see. */
const PRIVATE_ENV = [MANIFEST_ENV, "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/** How often orphans are looked for when this process reaps them (PID 1). */
const REAP_INTERVAL_MS = 500;

/** A running supervisor. */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #backend: SupervisorBackend;
  readonly #backoff: Backoff;
  readonly #startedAt = Date.now();
  #held: HeldListener[] = [];
  #count = 0;
  #current: Generation | undefined;
  #next: Generation | undefined;
  readonly #draining = new Set<Generation>();
  readonly #all = new Set<Generation>();
  #stopping = false;
  #lastExit: ExitStatus | undefined;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles when the generation being started (not by an upgrade) serves or fails. */
  #launching: Promise<void> | undefined;
  #reaper: ReturnType<typeof setInterval> | undefined;
  #cleanups: (() => void | Promise<void>)[] = [];
  #resolveDone!: (code: number) => void;
  /** Resolves with the exit code once the supervisor has finished. */
  readonly done: Promise<number>;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#backend = options.backend;
    this.#backoff = new Backoff(options.backoff);
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
  }

  /** The supervisor's pid. */
  get pid(): number {
    return this.#backend.pid();
  }

  /** The held listeners. */
  get listeners(): readonly HeldListener[] {
    return this.#held;
  }

  /**
   * Holds the sockets, writes the PID file, installs the signal handlers
   * and starts the first generation. Resolves once it is ready; rejects
   * (having cleaned up) if the sockets cannot be held or the PID file
   * written. A first generation that fails is retried like a crash.
   */
  async start(): Promise<void> {
    this.#held = await holdListeners(this.#backend, this.#options.listen);
    for (const h of this.#held) {
      this.#log(`holding ${h.network} ${h.address} (fd ${h.fd}, ${h.source})`);
    }
    if (this.#options.pidFile) {
      const path = this.#options.pidFile;
      await writePidFile(this.#backend, path, this.pid);
      this.#cleanups.push(() => this.#backend.removeFile(path));
    }
    this.#cleanups.push(
      this.#backend.onSignal("SIGHUP", () => void this.upgrade("SIGHUP")),
      this.#backend.onSignal("SIGTERM", () => void this.stop("SIGTERM")),
      this.#backend.onSignal("SIGINT", () => void this.stop("SIGINT")),
    );
    this.#startReaper();
    await this.#launch();
  }

  /**
   * Starts a new generation and, once it is ready, tells the serving one to
   * drain. Never rejects: a failure (refused, or the new generation exited
   * or hung before ready) is logged and returned, and the serving
   * generation keeps serving.
   */
  async upgrade(reason: string): Promise<UpgradeResult> {
    // Asked while a generation starts (or waits to restart): upgrade once one serves.
    if (!this.#current && this.#restartTimer && !this.#stopping) this.#restartNow();
    while (!this.#current && this.#launching && !this.#stopping) await this.#launching;
    const refusal = this.#refuseUpgrade();
    if (refusal) return this.#failed(`upgrade (${reason}) refused`, refusal);
    const old = this.#current!;
    this.#log(`upgrade (${reason}): starting generation ${this.#count + 1}`);
    this.#options.notifier?.reloading(`upgrading from generation ${old.number}`);
    const next = this.#spawn();
    this.#next = next;
    try {
      const error = await this.#awaitReady(next);
      if (error) {
        await next.kill();
        return this.#failed(
          `upgrade (${reason}) failed; generation ${old.number} keeps serving`,
          error,
        );
      }
      if (this.#stopping) {
        next.stop("SIGTERM", this.#options.drainTimeout);
        return this.#failed(`upgrade (${reason}) cancelled`, new StoppedError());
      }
      this.#serve(next);
      if (old.state !== "exited") {
        this.#draining.add(old);
        old.drain(this.#options.drainTimeout);
        this.#log(`generation ${old.number} (pid ${old.pid}) drains`);
      }
      return { ok: true, generation: next.number, pid: next.pid };
    } finally {
      this.#next = undefined;
      this.#options.notifier?.ready(this.#statusLine());
      if (!this.#current && !this.#stopping) this.#restartLater();
    }
  }

  /**
   * Passes `signal` to every generation, waits for them to drain (SIGKILL
   * after the drain timeout), cleans up and resolves {@link done} with the
   * serving generation's exit code (128 + signal number if a signal ended
   * it). Returns that code.
   */
  async stop(signal = "SIGTERM"): Promise<number> {
    if (this.#stopping) {
      // A second signal is passed on too: the application may take it as "hurry".
      for (const gen of this.#all) gen.child.kill(signal);
      return await this.done;
    }
    this.#stopping = true;
    this.#log(`${signal}: stopping ${this.#all.size} generation(s)`);
    this.#options.notifier?.stopping(`stopping on ${signal}`);
    clearTimeout(this.#restartTimer);
    const serving = this.#current;
    const all = [...this.#all];
    for (const gen of all) gen.stop(signal, this.#options.drainTimeout);
    await Promise.all(all.map((gen) => gen.exited));
    const code = serving
      ? Generation.exitCode(serving.status)
      : Generation.exitCode(this.#lastExit);
    await this.#finish(code);
    return code;
  }

  /**
   * Ends a supervisor that could not start (no generation runs): undoes
   * what {@link start} did and resolves {@link done} with `code`.
   */
  async close(code: number): Promise<void> {
    this.#stopping = true;
    await this.#giveUp(code);
  }

  /** What the supervisor runs now, for `tableflip status`. */
  status(): StatusReport {
    const now = Date.now();
    return {
      pid: this.pid,
      runtime: this.#backend.name,
      uptimeMs: now - this.#startedAt,
      stopping: this.#stopping,
      current: this.#current?.number ?? null,
      listeners: this.#held.map(({ network, address, name, source }) => ({
        network,
        address,
        ...(name ? { name } : {}),
        source,
      })),
      generations: [...this.#all].map((gen) => ({
        generation: gen.number,
        worker: gen.worker,
        pid: gen.pid,
        state: gen.state,
        uptimeMs: now - gen.startedAt,
      })),
    };
  }

  /** Registers something to undo when the supervisor finishes (the control socket). */
  onFinish(cleanup: () => void | Promise<void>): void {
    this.#cleanups.push(cleanup);
  }

  #refuseUpgrade(): TableflipError | undefined {
    if (this.#stopping) return new StoppedError("the supervisor is stopping");
    if (this.#next) return new UpgradeInProgressError();
    if (!this.#current) {
      return new TableflipError(
        "ERR_NOT_READY",
        "no generation is serving yet (starting or restarting); try again once one is ready",
      );
    }
    const draining = [...this.#draining].filter((g) => g.state !== "exited").length;
    if (draining >= this.#options.maxDraining) {
      return new TableflipError(
        "ERR_TOO_MANY_DRAINING",
        `${draining} generations are still draining (--max-draining ${this.#options.maxDraining}); ` +
          `the oldest ends within --drain-timeout, then upgrade again, or raise --max-draining`,
      );
    }
    return undefined;
  }

  #failed(what: string, error: TableflipError): UpgradeResult {
    this.#log(`${what}: ${error.message} [${error.code}]`);
    return { ok: false, code: error.code, message: error.message };
  }

  /** Starts a generation and serves it once ready; a failure counts as a death. */
  #launch(): Promise<void> {
    const launching = this.#launchOnce().finally(() => {
      if (this.#launching === launching) this.#launching = undefined;
    });
    this.#launching = launching;
    return launching;
  }

  async #launchOnce(): Promise<void> {
    const gen = this.#spawn();
    const error = await this.#awaitReady(gen);
    if (this.#stopping) return;
    if (error) {
      await gen.kill();
      this.#log(`generation ${gen.number} did not become ready: ${error.message}`);
      this.#lastExit = gen.status;
      this.#restartLater();
      return;
    }
    this.#serve(gen);
    this.#options.notifier?.ready(this.#statusLine());
  }

  #spawn(): Generation {
    const env = this.#backend.environment();
    for (const name of PRIVATE_ENV) delete env[name];
    let gen: Generation;
    try {
      gen = new Generation(this.#backend, {
        number: ++this.#count,
        command: this.#options.command,
        cwd: this.#options.cwd,
        env,
        held: this.#held,
        worker: 0,
        workers: 1,
      }, this.pid);
    } catch (cause) {
      throw new TableflipError(
        "ERR_SPAWN",
        `cannot start ${this.#options.command[0]}${describeCause(cause)}`,
        { cause },
      );
    }
    this.#all.add(gen);
    gen.onRequest((line) => {
      if (line !== LINES.upgrade) return;
      void this.upgrade(`asked by generation ${gen.number}`).then((result) => {
        if (!result.ok) gen.send(encodeFailure(result));
      });
    });
    gen.exited.then((status) => {
      this.#all.delete(gen);
      this.#draining.delete(gen);
      this.#log(`generation ${gen.number} (pid ${gen.pid}) ${describeExit(status)}`);
      if (gen === this.#current) this.#currentDied(gen, status);
    });
    this.#log(`generation ${gen.number} started (pid ${gen.pid})`);
    return gen;
  }

  /** Waits for `ready`; returns the error if the generation exits or hangs first. */
  async #awaitReady(gen: Generation): Promise<TableflipError | undefined> {
    const ms = this.#options.upgradeTimeout;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      gen.ready.then(() => "ready" as const),
      gen.exited.then((status) => status),
      new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), ms)),
    ]);
    clearTimeout(timer);
    if (outcome === "ready") return undefined;
    if (outcome === "timeout") return new ChildTimeoutError(gen.pid, ms);
    if (outcome.error) {
      return new TableflipError("ERR_SPAWN", `cannot start it${describeCause(outcome.error)}`);
    }
    return new ChildExitedError(gen.pid, outcome.code, outcome.signal);
  }

  #serve(gen: Generation): void {
    this.#current = gen;
    this.#log(`generation ${gen.number} (pid ${gen.pid}) is ready and serving`);
  }

  #currentDied(_gen: Generation, status: ExitStatus): void {
    this.#current = undefined;
    this.#lastExit = status;
    if (this.#stopping) return;
    // An upgrade in flight will serve instead, or restart when it fails.
    if (!this.#next) this.#restartLater();
  }

  /** Restarts after the back-off delay, or ends the supervisor on a crash loop. */
  #restartLater(): void {
    const delay = this.#backoff.death(Date.now());
    if (delay === undefined) {
      const { maxRestarts, window } = this.#options.backoff;
      this.#log(
        `crash loop: ${this.#backoff.recent} deaths within ${window} ms (--max-restarts ` +
          `${maxRestarts}); giving up [ERR_CRASH_LOOP]. Fix the service (see its output above) and ` +
          `start tableflip run again`,
      );
      void this.#giveUp();
      return;
    }
    this.#log(`restarting in ${delay} ms on the same sockets (connections wait in the backlog)`);
    this.#restartTimer = setTimeout(() => this.#restartNow(), delay);
  }

  #restartNow(): void {
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    void this.#launch();
  }

  async #giveUp(code = 1): Promise<void> {
    this.#stopping = true;
    const all = [...this.#all];
    for (const gen of all) gen.stop("SIGTERM", this.#options.drainTimeout);
    await Promise.all(all.map((gen) => gen.exited));
    await this.#finish(code);
  }

  /** On PID 1 duty, collects orphans the runtime does not know. */
  #startReaper(): void {
    if (this.pid !== 1) return;
    if (!this.#backend.canReapOrphans) {
      this.#log(
        `running as PID 1 on ${this.#backend.name}, which cannot reap orphaned processes ` +
          `(no waitpid): run it under an init (docker run --init, tini), or run tableflip on Bun or Deno`,
      );
      return;
    }
    const own = (pid: number) => [...this.#all].some((g) => g.pid === pid);
    this.#reaper = setInterval(() => {
      for (const pid of this.#backend.reapOrphans(own)) this.#log(`reaped orphan pid ${pid}`);
    }, REAP_INTERVAL_MS);
  }

  #statusLine(): string {
    const gen = this.#current;
    return gen ? `generation ${gen.number} (pid ${gen.pid}) serving` : "no generation serving";
  }

  async #finish(code: number): Promise<void> {
    clearInterval(this.#reaper);
    clearTimeout(this.#restartTimer);
    for (const cleanup of this.#cleanups.reverse()) {
      try {
        await cleanup();
      } catch {
        // Best effort: the exit code matters more.
      }
    }
    this.#cleanups = [];
    for (const h of this.#held) {
      this.#backend.closeFd(h.fd);
      // A unix socket this supervisor bound goes with it, so the next start can bind it again.
      if (h.network === "unix" && h.source === "listen") await this.#backend.removeFile(h.address);
    }
    this.#log(`exiting with code ${code}`);
    this.#resolveDone(code);
  }

  #log(message: string): void {
    this.#options.log(message);
  }
}

function describeExit(status: ExitStatus): string {
  if (status.error) return `could not start${describeCause(status.error)}`;
  return status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
}
