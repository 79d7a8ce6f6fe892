/**
 * The supervisor's sd_notify: `READY=1` (with `MAINPID=` its own pid, the
 * first time: a wrapper such as `npx` may be what systemd started) once the
 * first generation serves, `RELOADING=1` with `MONOTONIC_USEC=` when an
 * upgrade starts, `READY=1` when it is done or failed, `STOPPING=1`, and a
 * `STATUS=` line naming the generation and pids that serve.
 *
 * @module
 */
import type { TableflipError } from "../src/errors.ts";
import { notifierFor } from "../src/sd_notify.ts";
import type { SupervisorBackend } from "./backend.ts";
import type { SupervisorNotifier } from "./supervisor.ts";

/** A notifier for `backend`'s `NOTIFY_SOCKET`, or `undefined` when it is unset. */
export function supervisorNotifier(
  backend: SupervisorBackend,
  onError: (error: TableflipError) => void,
): SupervisorNotifier | undefined {
  const notifier = notifierFor(backend, { onError });
  if (!notifier.enabled) return undefined;
  let first = true;
  return {
    ready: (status) => {
      if (!first) return void notifier.ready(status);
      first = false;
      void notifier.mainPid(backend.pid(), { READY: 1, STATUS: status });
    },
    reloading: (status) => void notifier.reloading(status),
    stopping: (status) => void notifier.stopping(status),
  };
}
