/**
 * systemd socket activation: the sockets a service manager passes in
 * `LISTEN_FDS` (starting at fd 3), meant for this process when `LISTEN_PID`
 * is its pid, optionally named by `LISTEN_FDNAMES`. They become inherited
 * entries like those of a manifest, so `listen()` adopts them by address.
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import { InheritedFdError, TableflipError } from "./errors.ts";
import type { FdEntry } from "./protocol.ts";

/** The first fd systemd passes (`SD_LISTEN_FDS_START`). */
export const LISTEN_FDS_START = 3;

/** The variables of the socket activation protocol, removed once read. */
export const ACTIVATION_ENV = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] as const;

/** Most fds accepted in `LISTEN_FDS`; more is taken as a malformed value. */
const MAX_LISTEN_FDS = 1024;

/**
 * Reads the socket-activation variables. Returns `undefined` when they are
 * absent or meant for another process (`LISTEN_PID` is not this pid, or unset);
 * otherwise one entry per fd: a listener named by its bound address, or a
 * file entry (by its name, or `fd<N>`) for anything that is not a listening
 * socket. Throws a typed `ERR_LISTEN_FDS` error for malformed values and an
 * `ERR_INHERITED_FD` error for an fd that is not open. The variables are
 * removed from the environment, so processes this one starts do not take
 * the sockets for theirs. On Deno, reading them needs
 * `--allow-env=LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES`; without that
 * permission the process is taken as not socket-activated.
 */
export function readSocketActivation(backend: Backend): FdEntry[] | undefined {
  let count: string | undefined;
  try {
    count = backend.getEnv("LISTEN_FDS");
  } catch (error) {
    // A Deno process without --allow-env for it was not meant to be socket-activated.
    if (error instanceof TableflipError && error.code === "ERR_PERMISSION") return undefined;
    throw error;
  }
  const pid = backend.getEnv("LISTEN_PID");
  // As systemd's sd_listen_fds(): without LISTEN_PID naming this process, they are not ours.
  if (count === undefined || pid !== String(backend.pid())) return undefined;
  const names = backend.getEnv("LISTEN_FDNAMES");
  for (const name of ACTIVATION_ENV) backend.deleteEnv(name);
  if (!/^\d+$/.test(count) || Number(count) > MAX_LISTEN_FDS) {
    throw activationError(`LISTEN_FDS=${JSON.stringify(count)} is not a number of fds`);
  }
  const n = Number(count);
  const fdNames = names === undefined ? [] : names.split(":");
  if (names !== undefined && fdNames.length !== n) {
    throw activationError(
      `LISTEN_FDNAMES has ${fdNames.length} names for ${n} fds (${JSON.stringify(names)})`,
    );
  }
  const entries: FdEntry[] = [];
  for (let i = 0; i < n; i++) {
    const fd = LISTEN_FDS_START + i;
    const name = fdNames[i] || undefined;
    if (backend.fdType(fd) === "closed") {
      throw new InheritedFdError(fd, `LISTEN_FDS names it, but it is not open`);
    }
    const bound = backend.socketName(fd);
    entries.push(
      bound
        ? { fd, kind: "listener", ...bound, ...(name ? { name } : {}) }
        : { fd, kind: "file", name: name ?? `fd${fd}` },
    );
  }
  return entries;
}

function activationError(message: string): TableflipError {
  return new TableflipError(
    "ERR_LISTEN_FDS",
    `socket activation: ${message}; check the unit's .socket file or what sets these variables`,
  );
}
