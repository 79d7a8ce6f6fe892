/**
 * The parent side of the protocol (Go tableflip's `parent.go`): starting
 * the next generation with this process's fds, a control socket and the
 * manifest, and waiting for it to become ready.
 *
 * @module
 */
import type { Backend, ExitStatus, FdLayout, SpawnedChild, SpawnRequest } from "./backend.ts";
import {
  ChildExitedError,
  ChildTimeoutError,
  describeCause,
  StoppedError,
  TableflipError,
} from "./errors.ts";
import type { FdRegistry } from "./fds.ts";
import {
  ACCEPT_COPIES,
  encodeManifest,
  type FdEntry,
  type Manifest,
  MANIFEST_ENV,
  PROTOCOL_VERSION,
} from "./protocol.ts";
import { killAndWait, raceTimerAndSignal } from "./race.ts";

/** What the next generation is started with. */
export interface NextGeneration {
  generation: number;
  /** Its command line; default: this process's own (`Backend#reexecArgv`). */
  command?: string[];
  cwd: string;
  /** Variables on top of this process's environment. */
  env?: Record<string, string>;
}

/**
 * Spawns the next generation with every fd `fds` passes on. Returns the
 * child and how many fds it got. Any failure, including one while the
 * command line or environment is read, is a typed `ERR_SPAWN` error.
 */
export function spawnNext(
  backend: Backend,
  fds: FdRegistry,
  next: NextGeneration,
): { child: SpawnedChild; passed: number } {
  const failed = (cause: unknown) =>
    new TableflipError("ERR_SPAWN", `cannot start the new process${describeCause(cause)}`, {
      cause,
    });
  let request: SpawnRequest;
  try {
    const passed = fds.passable();
    const env = { ...backend.environment(), ...next.env };
    delete env[MANIFEST_ENV];
    request = {
      argv: next.command ?? backend.reexecArgv(),
      cwd: next.cwd,
      env,
      fds: passed.map((p) => p.fd),
      acceptCopies: passed.map((p) => p.entry.kind === "listener" ? ACCEPT_COPIES : 0),
      manifestEnv: (layout) => ({
        [MANIFEST_ENV]: encodeManifest({
          v: PROTOCOL_VERSION,
          parentPid: backend.pid(),
          generation: next.generation,
          control: layout.control,
          fds: passed.map((p, i) => withCopies({ ...p.entry, fd: layout.fds[i] }, layout, i)),
        }),
      }),
    };
  } catch (cause) {
    // A typed error (a missing Deno permission) says best what to do; anything else is ERR_SPAWN.
    throw cause instanceof TableflipError ? cause : failed(cause);
  }
  try {
    return { child: backend.spawn(request), passed: request.fds.length };
  } catch (cause) {
    throw failed(cause);
  }
}

/** The manifest entry of passed fd `i`, with the copies the backend placed for it, if any. */
export function withCopies(entry: FdEntry, layout: FdLayout, i: number): Manifest["fds"][0] {
  const copies = layout.copies?.[i];
  return entry.kind === "listener" && copies?.length ? { ...entry, copies } : entry;
}

/**
 * Resolves once `child` is ready. Rejects with `ERR_CHILD_EXITED` (or
 * `ERR_SPAWN` if it never started) when it exits first, `ERR_CHILD_TIMEOUT`
 * after `timeoutMs`, or the abort reason when `signal` aborts; the child is
 * killed in the last two cases.
 */
export async function awaitReady(
  child: SpawnedChild,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  const outcome = await raceTimerAndSignal<
    { kind: "ready" } | { kind: "exited"; status: ExitStatus }
  >(
    [
      child.ready.then(() => ({ kind: "ready" as const })),
      child.exited.then((status) => ({ kind: "exited" as const, status })),
    ],
    timeoutMs,
    signal,
  );
  switch (outcome.kind) {
    case "ready":
      return;
    case "exited": {
      const { status } = outcome;
      if (status.error) {
        throw new TableflipError(
          "ERR_SPAWN",
          `cannot start the new process${describeCause(status.error)}`,
          { cause: status.error },
        );
      }
      throw new ChildExitedError(child.pid, status.code, status.signal);
    }
    case "timeout":
      await killAndWait(child);
      throw new ChildTimeoutError(child.pid, timeoutMs);
    case "aborted":
      await killAndWait(child);
      throw outcome.reason instanceof TableflipError ? outcome.reason : new StoppedError();
  }
}

/**
 * A probation window of `ms`: resolves `survived` if the child is still
 * there at its end, `exited` (with its status) if it ended within it, or
 * `aborted` if `signal` aborted first.
 */
export async function watchProbation(
  child: SpawnedChild,
  ms: number,
  signal: AbortSignal,
): Promise<
  { kind: "survived" } | { kind: "exited"; status: ExitStatus } | {
    kind: "aborted";
    reason: unknown;
  }
> {
  const outcome = await raceTimerAndSignal(
    [child.exited.then((status) => ({ kind: "exited" as const, status }))],
    ms,
    signal,
  );
  return outcome.kind === "timeout" ? { kind: "survived" } : outcome;
}
