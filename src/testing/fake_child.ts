/**
 * A child the fake backend spawned, as the test sees it: what it was started
 * with (argv, environment, manifest, fds), its own fake backend to run the
 * next generation's Upgrader on, and the levers a test pulls to make it
 * ready, exit or die at any step.
 *
 * @module
 */
import type { ExitStatus, FdLayout } from "../backend.ts";
import { decodeManifest, type Manifest, MANIFEST_ENV } from "../protocol.ts";
import type { FakeBackend } from "./fake_backend.ts";

/** What the parent asked for when it spawned the child. */
export interface FakeSpawnRecord {
  /** Executable and arguments. */
  argv: string[];
  /** Working directory. */
  cwd: string;
  /** The whole environment, manifest included. */
  env: Record<string, string>;
  /** Parent-side fds passed, in order. */
  parentFds: number[];
  /** Where they sit in the child. */
  layout: FdLayout;
}

/** A spawned fake child process. */
export class FakeChild {
  /** Its pid (0 if it failed to start). */
  readonly pid: number;
  /** What it was started with. */
  readonly spawn: FakeSpawnRecord;
  /**
   * The child process's own backend: its environment holds the manifest, its
   * fd table the passed fds and the control socket. Give it to an `Upgrader`
   * to run the next generation's side of the protocol.
   */
  readonly backend: FakeBackend;
  /** Resolves when the child ends (or failed to start). */
  readonly exited: Promise<ExitStatus>;

  /** @internal Made by `FakeBackend#spawn`. */
  constructor(backend: FakeBackend, spawn: FakeSpawnRecord, startError?: Error) {
    this.backend = backend;
    this.spawn = spawn;
    this.pid = startError ? 0 : backend.pid();
    this.exited = startError
      ? Promise.resolve({ code: null, signal: null, error: startError })
      : backend.exitStatus;
  }

  /** The manifest the parent passed, decoded (`undefined` if there was none). */
  get manifest(): Manifest | undefined {
    const text = this.spawn.env[MANIFEST_ENV];
    return text === undefined ? undefined : decodeManifest(text);
  }

  /** Signals the parent sent it, in order. */
  get signals(): readonly string[] {
    return this.backend.signalsReceived;
  }

  /** Whether the parent released it (the upgrade succeeded). */
  get released(): boolean {
    return this.backend.released;
  }

  /** Whether it is still running. */
  get alive(): boolean {
    return this.backend.alive;
  }

  /**
   * Writes the ready line on the control socket, as a child's `ready()`
   * would, without running an Upgrader.
   */
  ready(): void {
    this.backend.writeControl();
  }

  /** Exits with `code` (default 0). */
  exit(code = 0): void {
    this.backend.exit({ code, signal: null });
  }

  /** Dies from `signal` (default `SIGKILL`). */
  die(signal = "SIGKILL"): void {
    this.backend.exit({ code: null, signal });
  }
}
