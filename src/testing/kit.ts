/**
 * The test kit: run an application's own server code in its unit tests with
 * an `Upgrader` that listens on real ephemeral ports of 127.0.0.1 (so the
 * test's clients can connect) but never spawns, never writes a real PID
 * file and never sees a real signal; then say "a new generation is ready"
 * and watch the application drain. Works under any test runner.
 *
 * ```ts
 * const kit = createTestKit();
 * const app = startApp(kit.upgrader); // the application's own code
 * await kit.ready;                    // it called upgrader.ready()
 * const res = await fetch(`http://127.0.0.1:${kit.port()}/`);
 * await kit.upgrade();                // the next generation is ready: exit settles
 * await app.done;                     // the application drained and finished
 * await kit.close();
 * ```
 *
 * @module
 */
import type { Listener } from "../backend.ts";
import type { UpgradeEvent } from "../events.ts";
import type { Upgrader, UpgraderOptions } from "../upgrader.ts";
import { FakeBackend, FakeSystem } from "./fake_backend.ts";
import type { FakeChild } from "./fake_child.ts";
import { upgraderFor } from "./process_upgrader.ts";

/**
 * What the next generation does once spawned: becomes `"ready"` (the
 * default), `"hang"`s (the upgrade fails at `upgradeTimeout`), exits with
 * `{ exitCode }`, or dies from `{ signal }` before it is ready.
 */
export type NextGeneration = "ready" | "hang" | { exitCode: number } | { signal: string };

/** Options for {@link createTestKit}: the Upgrader's options, without `backend`. */
export type TestKitOptions = Omit<UpgraderOptions, "backend">;

/** A listener the application opened through the kit's upgrader. */
export interface TestListener {
  /** The listener itself (a real, listening `node:net` server). */
  listener: Listener;
  /** Its TCP port, or `undefined` for a unix socket. */
  port: number | undefined;
  /** Its unix socket path, or `undefined` for TCP. */
  path: string | undefined;
}

/** An application's view of an upgrade, for its tests. See {@link createTestKit}. */
export class TestKit {
  /** The fake process the upgrader runs on (fault injection, calls, files). */
  readonly backend: FakeBackend;
  /** The upgrader to give the application. */
  readonly upgrader: Upgrader;
  /** Resolves once the application called `upgrader.ready()`. */
  readonly ready: Promise<void>;
  /** Every event the upgrader emitted, in order. */
  readonly events: UpgradeEvent[] = [];
  readonly #pidFile: string | undefined;
  readonly #next: NextGeneration[] = [];

  /** Creates the fake process and its upgrader; see {@link createTestKit}. */
  constructor(options: TestKitOptions = {}) {
    this.backend = new FakeBackend({
      system: new FakeSystem({ anyDirectory: true }),
      sockets: "real",
      onSpawn: (child) => this.#behave(child),
    });
    this.#pidFile = options.pidFile;
    let resolveReady!: () => void;
    this.ready = new Promise((resolve) => resolveReady = resolve);
    this.upgrader = upgraderFor(this.backend, {
      ...options,
      onEvent: (event) => {
        this.events.push(event);
        if (event.type === "ready") resolveReady();
        options.onEvent?.(event);
      },
    });
  }

  /** The listeners the application opened, in order, still listening or not. */
  listeners(): TestListener[] {
    return this.backend.listeners.map((listener) => {
      const address = listener.address();
      return typeof address === "object" && address
        ? { listener, port: address.port, path: undefined }
        : { listener, port: undefined, path: address ?? undefined };
    });
  }

  /** The real port of the `index`th TCP listener (default the first); throws if there is none. */
  port(index = 0): number {
    const port = this.listeners().filter((l) => l.port !== undefined)[index]?.port;
    if (port === undefined) throw new Error(`the application has no TCP listener #${index}`);
    return port;
  }

  /**
   * Runs `upgrader.upgrade()` with a next generation that does `next`
   * (default: becomes ready), and resolves with that child once the
   * upgrade succeeded; `upgrader.exit` has settled then, so the
   * application's drain code runs. Rejects with the upgrade's error. The
   * application must have called `ready()` (`await kit.ready` first).
   */
  async upgrade(next: NextGeneration = "ready"): Promise<FakeChild> {
    const before = this.backend.children.length;
    this.#next.push(next);
    await this.upgrader.upgrade();
    return this.backend.children[before];
  }

  /**
   * Delivers `signal` (default `SIGHUP`) to the handlers the application
   * installed through the upgrader (`upgradeOnSignal`); a next generation
   * spawned because of it does `next`. Returns how many handlers ran.
   */
  signal(signal = "SIGHUP", next: NextGeneration = "ready"): number {
    this.#next.push(next);
    const ran = this.backend.signal(signal);
    if (ran === 0) this.#next.pop();
    return ran;
  }

  /** The content of the (in-memory) PID file, if the `pidFile` option was set and it was written. */
  pidFile(): string | undefined {
    if (this.#pidFile === undefined) return undefined;
    const path = this.#pidFile.startsWith("/")
      ? this.#pidFile
      : `${this.backend.cwd()}/${this.#pidFile}`;
    return this.backend.system.files.read(path.replace(/\/+/g, "/"));
  }

  /** Stops the upgrader and closes every listener still listening. */
  async close(): Promise<void> {
    this.upgrader.stop();
    await Promise.all(
      this.backend.listeners.filter((l) => l.listening).map((l) =>
        new Promise<void>((resolve) => l.close(() => resolve()))
      ),
    );
  }

  #behave(child: FakeChild): void {
    const next = this.#next.shift() ?? "ready";
    if (next === "hang") return;
    queueMicrotask(() => {
      if (next === "ready") child.ready();
      else if ("exitCode" in next) child.exit(next.exitCode);
      else child.die(next.signal);
    });
  }
}

/**
 * A {@link TestKit}: an `Upgrader` for an application's unit tests, on a
 * fake process whose listeners are real sockets on ephemeral ports of
 * 127.0.0.1 (a TCP address's host and port are replaced; a unix path is
 * bound as given), and which never spawns: {@link TestKit.upgrade} plays a
 * next generation that becomes ready (or fails as told). The PID file is
 * written to an in-memory file system ({@link TestKit.pidFile}).
 */
export function createTestKit(options: TestKitOptions = {}): TestKit {
  return new TestKit(options);
}
