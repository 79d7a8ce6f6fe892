/**
 * Typed errors. Every error thrown or rejected by tableflip is a
 * {@link TableflipError} with a stable `code`, so callers can branch on
 * `err.code` without parsing messages.
 *
 * @module
 */

/** Stable error codes, one per failure kind. */
export type ErrorCode =
  | "ERR_UPGRADE_IN_PROGRESS"
  | "ERR_NOT_READY"
  | "ERR_PARENT_ALIVE"
  | "ERR_STOPPED"
  | "ERR_CHILD_EXITED"
  | "ERR_CHILD_TIMEOUT"
  | "ERR_CHILD_DIED_IN_PROBATION"
  | "ERR_SPAWN"
  | "ERR_MANIFEST"
  | "ERR_INHERITED_FD"
  | "ERR_PID_FILE"
  | "ERR_LISTEN"
  | "ERR_INVALID_ARGUMENT"
  | "ERR_ALREADY_CREATED"
  | "ERR_UNSUPPORTED"
  | "ERR_PERMISSION"
  | "ERR_SYSCALL"
  | "ERR_LISTENER_NOT_HELD"
  | "ERR_LISTEN_FDS"
  | "ERR_TOO_MANY_DRAINING"
  | "ERR_CRASH_LOOP"
  | "ERR_USAGE"
  | "ERR_CONTROL"
  | "ERR_NOTIFY_SOCKET"
  | "ERR_NOTIFY";

/** Marks tableflip's errors, so that copies of the library loaded twice (ESM and CJS) agree. */
const BRAND: unique symbol = Symbol.for("tableflip.error") as never;

/**
 * Base class of every error tableflip produces. `instanceof` also holds for
 * an error made by another copy of tableflip in the same process (its ESM and
 * CommonJS builds are separate copies): such an error carries the same brand
 * and the same class `name`.
 */
export class TableflipError extends Error {
  /** A stable, machine-readable code for the failure kind. */
  readonly code: ErrorCode;
  declare readonly [BRAND]: true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TableflipError";
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (typeof value !== "object" || value === null || !(BRAND in value)) return false;
    // A subclass matches by name; the base class matches every branded error.
    return this === TableflipError || (value as { name?: unknown }).name === this.name;
  }
}

/** `upgrade()` was called while another upgrade is still running. */
export class UpgradeInProgressError extends TableflipError {
  constructor() {
    super("ERR_UPGRADE_IN_PROGRESS", "an upgrade is already in progress");
    this.name = "UpgradeInProgressError";
  }
}

/** `upgrade()` was called before this process called `ready()`. */
export class NotReadyError extends TableflipError {
  constructor() {
    super(
      "ERR_NOT_READY",
      "this process has not called ready() yet, so it cannot hand over",
    );
    this.name = "NotReadyError";
  }
}

/** `upgrade()` was called while this process's own parent is still running. */
export class ParentAliveError extends TableflipError {
  /** Pid of the parent generation that has not exited yet. */
  readonly parentPid: number;
  constructor(parentPid: number) {
    super(
      "ERR_PARENT_ALIVE",
      `parent process ${parentPid} has not exited yet; wait for it before upgrading again`,
    );
    this.name = "ParentAliveError";
    this.parentPid = parentPid;
  }
}

/** The upgrader was stopped, or this process already handed over. */
export class StoppedError extends TableflipError {
  constructor(what = "the upgrader was stopped") {
    super("ERR_STOPPED", what);
    this.name = "StoppedError";
  }
}

/** The new process exited before it called `ready()`. */
export class ChildExitedError extends TableflipError {
  /** Pid of the child that exited. */
  readonly pid: number;
  /** Its exit code, or `null` if a signal ended it. */
  readonly exitCode: number | null;
  /** The signal that ended it, or `null` if it exited by itself. */
  readonly signal: string | null;
  constructor(pid: number, exitCode: number | null, signal: string | null) {
    const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    super("ERR_CHILD_EXITED", `new process ${pid} ${how} before it was ready`);
    this.name = "ChildExitedError";
    this.pid = pid;
    this.exitCode = exitCode;
    this.signal = signal;
  }
}

/** The new process did not call `ready()` in time; it has been killed. */
export class ChildTimeoutError extends TableflipError {
  /** Pid of the child that was killed. */
  readonly pid: number;
  /** The limit that ran out, in milliseconds. */
  readonly timeoutMs: number;
  constructor(pid: number, timeoutMs: number) {
    super(
      "ERR_CHILD_TIMEOUT",
      `new process ${pid} was not ready within ${timeoutMs} ms and was killed`,
    );
    this.name = "ChildTimeoutError";
    this.pid = pid;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The new process reported ready but ended during the probation window
 * (`UpgraderOptions.probation`). The old process never stopped accepting and
 * keeps serving; the PID file was rewritten with its pid.
 */
export class ChildDiedInProbationError extends TableflipError {
  /** Pid of the child that ended. */
  readonly pid: number;
  /** Its exit code, or `null` if a signal ended it. */
  readonly exitCode: number | null;
  /** The signal that ended it, or `null` if it exited by itself. */
  readonly signal: string | null;
  /** The probation window, in milliseconds. */
  readonly probationMs: number;
  /** Set when the PID file could not be restored to this process's pid. */
  readonly pidFileError: TableflipError | undefined;
  constructor(
    pid: number,
    exitCode: number | null,
    signal: string | null,
    probationMs: number,
    pidFileError?: TableflipError,
  ) {
    const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    const pidNote = pidFileError
      ? ` (and the PID file could not be restored: ${pidFileError.message})`
      : "";
    super(
      "ERR_CHILD_DIED_IN_PROBATION",
      `new process ${pid} ${how} within its ${probationMs} ms probation; this process keeps serving${pidNote}`,
      { cause: pidFileError },
    );
    this.name = "ChildDiedInProbationError";
    this.pid = pid;
    this.exitCode = exitCode;
    this.signal = signal;
    this.probationMs = probationMs;
    this.pidFileError = pidFileError;
  }
}

/** The inherited-fd manifest in the environment is malformed. */
export class ManifestError extends TableflipError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_MANIFEST", `invalid inherited-fd manifest: ${message}`, options);
    this.name = "ManifestError";
  }
}

/** An fd named in the manifest is not open, or not the kind it claims. */
export class InheritedFdError extends TableflipError {
  /** The fd number that failed the check. */
  readonly fd: number;
  constructor(fd: number, message: string, options?: { cause?: unknown }) {
    super("ERR_INHERITED_FD", `inherited fd ${fd}: ${message}`, options);
    this.name = "InheritedFdError";
    this.fd = fd;
  }
}

/** The PID file could not be written. */
export class PidFileError extends TableflipError {
  /** The PID file path that could not be written. */
  readonly path: string;
  constructor(path: string, options?: { cause?: unknown }) {
    const why = describeCause(options?.cause);
    super("ERR_PID_FILE", `cannot write PID file ${path}${why}`, options);
    this.name = "PidFileError";
    this.path = path;
  }
}

/** The runtime refused something tableflip needs (a Deno permission flag is missing). */
export class PermissionError extends TableflipError {
  /** The permission flag that grants it, e.g. `--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6`. */
  readonly permission: string;
  constructor(permission: string, what: string, options?: { cause?: unknown }) {
    super("ERR_PERMISSION", `${what} needs ${permission}${describeCause(options?.cause)}`, options);
    this.name = "PermissionError";
    this.permission = permission;
  }
}

/** A system call made through the libc FFI layer failed. */
export class SyscallError extends TableflipError {
  /** The libc function that failed, e.g. `fcntl`. */
  readonly syscall: string;
  /** The `errno` it left, e.g. 9 for EBADF. */
  readonly errno: number;
  constructor(syscall: string, errno: number, detail: string) {
    super("ERR_SYSCALL", `${syscall}(${detail}) failed: ${errnoName(errno)}`);
    this.name = "SyscallError";
    this.syscall = syscall;
    this.errno = errno;
  }
}

/** `NOTIFY_SOCKET` holds something that is neither an absolute path nor an `@name`. */
export class NotifySocketError extends TableflipError {
  /** The offending value, as found. */
  readonly value: string;
  constructor(value: string, why: string) {
    super("ERR_NOTIFY_SOCKET", `invalid NOTIFY_SOCKET ${JSON.stringify(value)}: ${why}`);
    this.name = "NotifySocketError";
    this.value = value;
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  9: "EBADF",
  11: "EAGAIN",
  13: "EACCES",
  14: "EFAULT",
  17: "EEXIST",
  22: "EINVAL",
  24: "EMFILE",
  32: "EPIPE",
  36: "ENAMETOOLONG",
  88: "ENOTSOCK",
  95: "EOPNOTSUPP",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  111: "ECONNREFUSED",
};

/** `EBADF (errno 9)`-style name of an errno value (Linux numbering). */
export function errnoName(errno: number): string {
  const name = ERRNO_NAMES[errno];
  return name ? `${name} (errno ${errno})` : `errno ${errno}`;
}

/** Returns `": <message>"` for an error cause, or an empty string. */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) return `: ${cause.message}`;
  return cause === undefined ? "" : `: ${String(cause)}`;
}
