/**
 * The supervisor behind `tableflip run`: a stable process that holds the
 * listening sockets and runs the service's generations on them, each of N
 * worker processes sharing the sockets' accept queues. Its pid never
 * changes. An upgrade starts a new generation and tells the old one to drain
 * only once the new one is ready (all workers at once, or one worker at a
 * time with `rolling`); a worker that dies while serving is restarted on the
 * same sockets (connections wait in the backlog), with back-off, until a
 * crash loop ends that slot's restarts, and the supervisor once every slot
 * has given up.
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
import type { BackoffOptions } from "./backoff.ts";
import { Generation } from "./generation.ts";
import { type HeldListener, holdListeners } from "./held.ts";
import type { ListenRequest } from "./listen_spec.ts";
import { Slot } from "./slot.ts";
import type { StatusReport } from "./status.ts";

/** Service-manager notifications (sd_notify); every method may be a no-op. */
export interface SupervisorNotifier {
  ready(status: string): void;
  reloading(status: string): void;
  stopping(status: string): void;
}

/** Settings of a {@link Supervisor}. */
export interface SupervisorOptions {
  /** The command that starts one worker of a generation. */
  command: string[];
  /** Addresses to hold besides those systemd passes. */
  listen: ListenRequest[];
  /** Worker processes per generation (default 1). */
  workers?: number;
  /** Upgrade one worker at a time (at most N+1 processes) instead of all at once. */
  rolling?: boolean;
  /** Where to write the supervisor's pid (absolute path). */
  pidFile?: string;
  /** How long a new worker may take to become ready, in ms. */
  upgradeTimeout: number;
  /** How long a worker may drain (after an upgrade, or on stop) before SIGKILL, in ms. */
  drainTimeout: number;
  /** Most generations draining at once; an upgrade beyond it is refused. */
  maxDraining: number;
  /** Restart policy for a worker that dies while serving (per slot). */
  backoff: BackoffOptions;
  /** Working directory of the workers. */
  cwd: string;
  /** One line of log; the CLI writes it to stderr. */
  log(message: string): void;
  backend: SupervisorBackend;
  notifier?: SupervisorNotifier;
}

/** The answer to an upgrade request. */
export type UpgradeResult =
  | { ok: true; generation: number; pid: number; pids: number[] }
  | { ok: false; code: string; message: string };

/** Environment variables the generations must not see. */
const PRIVATE_ENV = [MANIFEST_ENV, "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/** How often orphans are looked for when this process reaps them (PID 1). */
const REAP_INTERVAL_MS = 500;

/** A running supervisor. */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #backend: SupervisorBackend;
  readonly #startedAt = Date.now();
  readonly #slots: Slot[];
  #held: HeldListener[] = [];
  #count = 0;
  /** Set while an upgrade runs. */
  #upgrading = false;
  readonly #draining = new Set<Generation>();
  readonly #all = new Set<Generation>();
  #stopping = false;
  #lastExit: ExitStatus | undefined;
  #reaper: ReturnType<typeof setInterval> | undefined;
  #cleanups: (() => void | Promise<void>)[] = [];
  #resolveDone!: (code: number) => void;
  /** Resolves with the exit code once the supervisor has finished. */
  readonly done: Promise<number>;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#backend = options.backend;
    const workers = options.workers ?? 1;
    this.#slots = Array.from({ length: workers }, (_, i) => new Slot(i, options.backoff));
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
  }

  /** The supervisor's pid. */
  get pid(): number {
    return this.#backend.pid();
  }

  /**
   * Holds the sockets, writes the PID file, installs the signal handlers
   * and starts the first generation's workers. Resolves once they are
   * ready (or failed and wait to restart); rejects if the sockets cannot be
   * held or the PID file written (call {@link close} then).
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
    const number = ++this.#count;
    await Promise.all(this.#slots.map((slot) => this.#launch(slot, number)));
    if (this.#serving().length) this.#options.notifier?.ready(this.#statusLine());
  }

  /**
   * Starts a new generation and, once it is ready, tells the serving one to
   * drain. Never rejects: a failure (refused, or a new worker exited or hung
   * before ready) is logged and returned, and the serving workers keep
   * serving.
   */
  async upgrade(reason: string): Promise<UpgradeResult> {
    // Asked while workers start (or wait to restart): upgrade once they serve.
    if (!this.#stopping && !this.#upgrading) {
      for (const slot of this.#slots) if (slot.restartTimer) this.#restartNow(slot);
      await Promise.all(this.#slots.map((slot) => slot.launching));
    }
    const refusal = this.#refuseUpgrade();
    if (refusal) return this.#failed(`upgrade (${reason}) refused`, refusal);
    this.#upgrading = true;
    const number = ++this.#count;
    const from = this.#serving().map((g) => g.number)[0];
    this.#log(`upgrade (${reason}): starting generation ${number}`);
    this.#options.notifier?.reloading(`upgrading from generation ${from} to ${number}`);
    try {
      const error = this.#options.rolling
        ? await this.#upgradeRolling(number)
        : await this.#upgradeAllAtOnce(number);
      if (error) return this.#failed(`upgrade (${reason}) failed`, error);
      const pids = this.#slots.map((s) => s.proc?.pid ?? 0);
      return { ok: true, generation: number, pid: pids[0], pids };
    } finally {
      this.#upgrading = false;
      this.#options.notifier?.ready(this.#statusLine());
      // A slot whose worker died during the upgrade and was not refilled restarts now.
      for (const slot of this.#slots) {
        if (slot.empty && !slot.gaveUp && !this.#stopping) this.#slotDied(slot);
      }
    }
  }

  /**
   * Passes `signal` to every worker, waits for them to drain (SIGKILL after
   * the drain timeout), cleans up and resolves {@link done} with the serving
   * workers' exit code: 0 if all exited 0, else the first other one in slot
   * order (128 + signal number if a signal ended it). Returns that code.
   */
  async stop(signal = "SIGTERM"): Promise<number> {
    if (this.#stopping) {
      // A second signal is passed on too: the application may take it as "hurry".
      for (const gen of this.#all) gen.child.kill(signal);
      return await this.done;
    }
    this.#stopping = true;
    this.#log(`${signal}: stopping ${this.#all.size} process(es)`);
    this.#options.notifier?.stopping(`stopping on ${signal}`);
    for (const slot of this.#slots) clearTimeout(slot.restartTimer);
    const serving = this.#serving();
    const all = [...this.#all];
    for (const gen of all) gen.stop(signal, this.#options.drainTimeout);
    await Promise.all(all.map((gen) => gen.exited));
    const codes = serving.map((gen) => Generation.exitCode(gen.status));
    const code = codes.length
      ? codes.find((c) => c !== 0) ?? 0
      : Generation.exitCode(this.#lastExit);
    await this.#finish(code);
    return code;
  }

  /**
   * Ends a supervisor that could not start (no worker runs): undoes what
   * {@link start} did and resolves {@link done} with `code`.
   */
  async close(code: number): Promise<void> {
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
      workers: this.#slots.length,
      current: this.#serving()[0]?.number ?? null,
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

  /** The workers serving now, in slot order. */
  #serving(): Generation[] {
    return this.#slots.flatMap((slot) => slot.proc ? [slot.proc] : []);
  }

  #refuseUpgrade(): TableflipError | undefined {
    if (this.#stopping) return new StoppedError("the supervisor is stopping");
    if (this.#upgrading) return new UpgradeInProgressError();
    if (!this.#serving().length) {
      return new TableflipError(
        "ERR_NOT_READY",
        "no generation is serving yet (starting or restarting); try again once one is ready",
      );
    }
    const draining = new Set(
      [...this.#draining].filter((g) => g.state !== "exited").map((g) => g.number),
    ).size;
    if (draining >= this.#options.maxDraining) {
      return new TableflipError(
        "ERR_TOO_MANY_DRAINING",
        `${draining} generations are still draining (--max-draining ${this.#options.maxDraining}); ` +
          `the oldest ends within --drain-timeout, then upgrade again, or raise --max-draining`,
      );
    }
    return undefined;
  }

  /** Every new worker ready first, then every old one drains; one failure undoes the lot. */
  async #upgradeAllAtOnce(number: number): Promise<TableflipError | undefined> {
    const next = this.#slots.map((slot) => this.#spawn(slot.index, number));
    const errors = await Promise.all(next.map((gen) => this.#awaitReady(gen)));
    const error = errors.find((e) => e !== undefined);
    if (error || this.#stopping) {
      await Promise.all(next.map((gen) => gen.kill()));
      return error ?? new StoppedError("the supervisor is stopping");
    }
    next.forEach((gen, i) => this.#replace(this.#slots[i], gen));
    return undefined;
  }

  /**
   * One slot at a time: its new worker ready, then its old one drained and
   * gone, then the next slot. A failure stops there: the slots already
   * replaced keep their new workers, the others their old ones.
   */
  async #upgradeRolling(number: number): Promise<TableflipError | undefined> {
    for (const slot of this.#slots) {
      const gen = this.#spawn(slot.index, number);
      const error = await this.#awaitReady(gen);
      if (error || this.#stopping) {
        await gen.kill();
        const done = slot.index ? ` (workers 0-${slot.index - 1} were upgraded)` : "";
        const why = error ?? new StoppedError("the supervisor is stopping");
        return new TableflipError(why.code, `worker ${slot.index}: ${why.message}${done}`);
      }
      const old = this.#replace(slot, gen);
      if (old) await old.exited;
    }
    return undefined;
  }

  /** Puts `gen` in `slot` and tells the worker it replaces to drain; returns that worker. */
  #replace(slot: Slot, gen: Generation): Generation | undefined {
    const old = slot.proc;
    this.#serve(slot, gen);
    slot.gaveUp = false;
    if (old && old.state !== "exited") {
      this.#draining.add(old);
      old.drain(this.#options.drainTimeout);
      this.#log(`${this.#label(old)} drains`);
      return old;
    }
    return undefined;
  }

  #failed(what: string, error: TableflipError): UpgradeResult {
    const keeps = this.#serving().map((g) => g.number)[0];
    const serving = keeps === undefined ? "" : `; generation ${keeps} keeps serving`;
    this.#log(`${what}${serving}: ${error.message} [${error.code}]`);
    return { ok: false, code: error.code, message: error.message };
  }

  /** Starts a worker in `slot` and serves it once ready; a failure counts as a death. */
  #launch(slot: Slot, number = ++this.#count): Promise<void> {
    const launching = this.#launchOnce(slot, number).finally(() => {
      if (slot.launching === launching) slot.launching = undefined;
    });
    slot.launching = launching;
    return launching;
  }

  async #launchOnce(slot: Slot, number: number): Promise<void> {
    const gen = this.#spawn(slot.index, number);
    const error = await this.#awaitReady(gen);
    if (this.#stopping) return;
    if (error) {
      await gen.kill();
      this.#log(`${this.#label(gen)} did not become ready: ${error.message}`);
      this.#lastExit = gen.status;
      slot.launching = undefined;
      this.#slotDied(slot);
      return;
    }
    this.#serve(slot, gen);
  }

  #spawn(worker: number, number: number): Generation {
    const env = this.#backend.environment();
    for (const name of PRIVATE_ENV) delete env[name];
    let gen: Generation;
    try {
      gen = new Generation(this.#backend, {
        number,
        command: this.#options.command,
        cwd: this.#options.cwd,
        env,
        held: this.#held,
        worker,
        workers: this.#slots.length,
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
      void this.upgrade(`asked by ${this.#label(gen)}`).then((result) => {
        if (!result.ok) gen.send(encodeFailure(result));
      });
    });
    gen.exited.then((status) => {
      this.#all.delete(gen);
      this.#draining.delete(gen);
      this.#log(`${this.#label(gen)} ${describeExit(status)}`);
      const slot = this.#slots[gen.worker];
      if (slot.proc !== gen) return;
      slot.proc = undefined;
      this.#lastExit = status;
      // During an upgrade the slot is refilled by it, or restarted when it ends.
      if (!this.#stopping && !this.#upgrading) this.#slotDied(slot);
    });
    this.#log(`${this.#label(gen)} started`);
    return gen;
  }

  /** `generation 2 (pid 7)`, or `generation 2 worker 1 (pid 7)` with several workers. */
  #label(gen: Generation): string {
    const worker = this.#slots.length > 1 ? ` worker ${gen.worker}` : "";
    return `generation ${gen.number}${worker} (pid ${gen.pid})`;
  }

  /** Waits for `ready`; returns the error if the worker exits or hangs first. */
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

  #serve(slot: Slot, gen: Generation): void {
    slot.proc = gen;
    this.#log(`${this.#label(gen)} is ready and serving`);
  }

  /**
   * Restarts `slot` after its back-off delay, or, on a crash loop, stops
   * restarting it; once every slot has given up, the supervisor ends.
   */
  #slotDied(slot: Slot): void {
    const delay = slot.backoff.death(Date.now());
    if (delay === undefined) {
      slot.gaveUp = true;
      const { maxRestarts, window } = this.#options.backoff;
      const which = this.#slots.length > 1 ? `worker ${slot.index}: ` : "";
      const verdict = this.#slots.every((s) => s.gaveUp)
        ? "giving up [ERR_CRASH_LOOP]. Fix the service (see its output above) and start " +
          "tableflip run again"
        : "no more restarts for this worker; the others keep serving [ERR_CRASH_LOOP]";
      this.#log(
        `${which}crash loop: ${slot.backoff.recent} deaths within ${window} ms ` +
          `(--max-restarts ${maxRestarts}); ${verdict}`,
      );
      if (this.#slots.every((s) => s.gaveUp)) void this.#giveUp(1);
      return;
    }
    this.#log(`restarting in ${delay} ms on the same sockets (connections wait in the backlog)`);
    slot.restartTimer = setTimeout(() => this.#restartNow(slot), delay);
  }

  #restartNow(slot: Slot): void {
    clearTimeout(slot.restartTimer);
    slot.restartTimer = undefined;
    void this.#launch(slot);
  }

  async #giveUp(code = 1): Promise<void> {
    this.#stopping = true;
    for (const slot of this.#slots) clearTimeout(slot.restartTimer);
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
    const serving = this.#serving();
    if (!serving.length) return "no generation serving";
    const pids = serving.map((g) => g.pid).join(", ");
    return `generation ${serving[0].number} serving (pid ${pids})`;
  }

  async #finish(code: number): Promise<void> {
    clearInterval(this.#reaper);
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
