/**
 * One generation under the supervisor: a process started on the held
 * sockets through the ordinary protocol (manifest, inherited fds, control
 * socket), and what became of it.
 *
 * @module
 */
import { constants } from "node:os";
import type { ExitStatus, SpawnedChild } from "../src/backend.ts";
import {
  ACCEPT_COPIES,
  encodeManifest,
  LINES,
  type Manifest,
  MANIFEST_ENV,
  PROTOCOL_VERSION,
  READY_LINE,
} from "../src/protocol.ts";
import { withCopies } from "../src/next_generation.ts";
import type { SupervisorBackend } from "./backend.ts";
import type { HeldListener } from "./held.ts";

/** Where a generation is in its life. */
export type GenerationState = "starting" | "serving" | "draining" | "exited";

/** How to start a generation. */
export interface GenerationSpec {
  number: number;
  command: string[];
  cwd: string;
  env: Record<string, string>;
  held: HeldListener[];
  worker: number;
  workers: number;
}

/** A generation's process. */
export class Generation {
  readonly number: number;
  readonly worker: number;
  readonly child: SpawnedChild;
  readonly startedAt = Date.now();
  readyAt: number | undefined;
  state: GenerationState = "starting";
  status: ExitStatus | undefined;
  /** Resolves when the process ends (or could not start). */
  readonly exited: Promise<ExitStatus>;
  /** Resolves when it wrote `ready`. */
  readonly ready: Promise<void>;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(backend: SupervisorBackend, spec: GenerationSpec, supervisorPid: number) {
    this.number = spec.number;
    this.worker = spec.worker;
    this.child = backend.spawn({
      argv: spec.command,
      cwd: spec.cwd,
      env: spec.env,
      fds: spec.held.map((h) => h.fd),
      acceptCopies: spec.held.map(() => ACCEPT_COPIES),
      manifestEnv: (layout) => ({
        [MANIFEST_ENV]: encodeManifest({
          v: PROTOCOL_VERSION,
          parentPid: supervisorPid,
          generation: spec.number,
          control: layout.control,
          fds: spec.held.map((h, i) =>
            withCopies(
              {
                fd: layout.fds[i],
                kind: "listener",
                network: h.network,
                address: h.address,
                ...(h.name ? { name: h.name } : {}),
              },
              layout,
              i,
            )
          ) as Manifest["fds"],
          supervisor: { worker: spec.worker, workers: spec.workers },
        }),
      }),
    });
    this.ready = this.child.ready.then(() => {
      if (this.state === "starting") {
        this.state = "serving";
        this.readyAt = Date.now();
      }
    });
    this.exited = this.child.exited.then((status) => {
      this.state = "exited";
      this.status = status;
      clearTimeout(this.#drainTimer);
      return status;
    });
  }

  /** Its pid (0 if it could not be started). */
  get pid(): number {
    return this.child.pid;
  }

  /** Calls `handler` for every line but `ready`. */
  onRequest(handler: (line: string) => void): void {
    this.child.onLine((line) => {
      if (line !== READY_LINE.trimEnd()) handler(line);
    });
  }

  /** Tells it to drain; kills it if it is still there after `timeoutMs`. */
  drain(timeoutMs: number): void {
    if (this.state === "exited") return;
    this.state = "draining";
    this.child.send(LINES.drain);
    this.#killAfter(timeoutMs);
  }

  /** Passes `signal` on; kills it if it is still there after `timeoutMs`. */
  stop(signal: string, timeoutMs: number): void {
    if (this.state === "exited") return;
    if (this.state !== "starting") this.state = "draining";
    this.child.kill(signal);
    this.#killAfter(timeoutMs);
  }

  /** Sends a line to it on the control socket. */
  send(line: string): void {
    this.child.send(line);
  }

  /** Kills it at once and waits for its end. */
  async kill(): Promise<ExitStatus> {
    this.child.kill("SIGKILL");
    return await this.exited;
  }

  /** The exit code a supervisor should end with for this generation's end. */
  static exitCode(status: ExitStatus | undefined): number {
    if (!status) return 1;
    if (status.code !== null) return status.code;
    const signals = constants.signals as Record<string, number | undefined>;
    return 128 + (signals[status.signal ?? ""] ?? 0);
  }

  #killAfter(ms: number): void {
    if (this.#drainTimer) return;
    this.#drainTimer = setTimeout(() => this.child.kill("SIGKILL"), ms);
  }
}
