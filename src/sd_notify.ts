/**
 * The systemd notification protocol (`sd_notify(3)`), runtime-agnostic:
 * parsing `NOTIFY_SOCKET`, building messages, and a {@link Notifier} that
 * sends them in order through an injected sender. The datagram itself is
 * sent by the backend (`Backend#sdNotify`): libc `sendto` on Bun and Deno,
 * `systemd-notify` on Node (see docs/SYSTEMD.md).
 *
 * ```ts
 * const notifier = notifierFor(defaultBackend(), { onError: (e) => console.error(e.message) });
 * await notifier.ready("serving");
 * ```
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import { NotifySocketError, TableflipError } from "./errors.ts";

/** Environment variable systemd sets to the socket a service notifies. */
export const NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET";

/** Longest `sun_path` content: 108 bytes, less a trailing NUL (paths) or the leading NUL (abstract names). */
export const MAX_SOCKET_NAME_BYTES = 107;

/** A parsed `NOTIFY_SOCKET`. */
export interface NotifySocket {
  /** `path`: a socket file; `abstract`: a name in Linux's abstract namespace. */
  kind: "path" | "abstract";
  /** The value as given (`/run/...` or `@name`); what a sender takes. */
  address: string;
  /** The path, or the abstract name without its `@`. */
  name: string;
}

/**
 * Parses a `NOTIFY_SOCKET` value. Returns `undefined` when it is unset or
 * empty (nothing to notify; `NOTIFY_SOCKET=` is the usual way to turn
 * notification off). Throws a {@link NotifySocketError} (`ERR_NOTIFY_SOCKET`)
 * for anything but an absolute path or an `@name` that fits in a `sockaddr_un`.
 */
export function parseNotifySocket(value: string | undefined): NotifySocket | undefined {
  if (value === undefined || value === "") return undefined;
  if (value.includes("\0")) throw new NotifySocketError(value, "it contains a NUL byte");
  const kind = value.startsWith("/") ? "path" : value.startsWith("@") ? "abstract" : undefined;
  if (!kind) {
    const why = value.startsWith("vsock:")
      ? "AF_VSOCK addresses (systemd >= 253 in virtual machines) are not supported"
      : "expected an absolute path (/run/...) or an abstract socket name (@name)";
    throw new NotifySocketError(value, why);
  }
  const name = kind === "path" ? value : value.slice(1);
  if (name === "") throw new NotifySocketError(value, "the abstract socket name after @ is empty");
  const bytes = new TextEncoder().encode(name).length;
  if (bytes > MAX_SOCKET_NAME_BYTES) {
    throw new NotifySocketError(
      value,
      `it is ${bytes} bytes long; a unix socket address holds at most ${MAX_SOCKET_NAME_BYTES}`,
    );
  }
  return { kind, address: value, name };
}

/** Field names as sd_notify(3) spells them: upper case, digits and `_`. */
const FIELD_NAME = /^[A-Z_][A-Z0-9_]*$/;

/**
 * Builds a notification message: one `NAME=value` line per field, in the
 * given order, joined by newlines (no trailing newline). Throws a
 * `TableflipError` (`ERR_INVALID_ARGUMENT`) for a malformed name or a value
 * with a newline (it would start another field).
 */
export function notifyMessage(fields: Record<string, string | number | bigint>): string {
  const lines: string[] = [];
  for (const [name, raw] of Object.entries(fields)) {
    const value = String(raw);
    if (!FIELD_NAME.test(name)) {
      throw new TableflipError(
        "ERR_INVALID_ARGUMENT",
        `sd_notify field name ${JSON.stringify(name)} must match ${FIELD_NAME}`,
      );
    }
    if (/[\n\0]/.test(value)) {
      throw new TableflipError(
        "ERR_INVALID_ARGUMENT",
        `sd_notify field ${name} must not contain a newline or NUL: ${JSON.stringify(value)}`,
      );
    }
    lines.push(`${name}=${value}`);
  }
  if (lines.length === 0) {
    throw new TableflipError("ERR_INVALID_ARGUMENT", "an sd_notify message needs a field");
  }
  return lines.join("\n");
}

/** Free text (a status line) made safe for one field: line breaks and NULs become spaces. */
export function oneLine(text: string): string {
  return text.replace(/\r\n|[\r\n\0]/g, " ");
}

/** Sends one message to a `NOTIFY_SOCKET` address; rejects when it could not be sent. */
export type NotifySender = (socket: string, message: string) => Promise<void>;

/** Options of a {@link Notifier}. */
export interface NotifierOptions {
  /** Receives every failure to build or send a message; the caller never sees it thrown. */
  onError?: (error: TableflipError) => void;
  /**
   * CLOCK_MONOTONIC in microseconds, for `MONOTONIC_USEC`. Default: Node's
   * `process.hrtime.bigint()`, which is CLOCK_MONOTONIC on Linux; Bun's and
   * Deno's count from process start, so there this must be given
   * (`Backend#monotonicUsec`, as {@link notifierFor} does).
   */
  clock?: () => bigint;
}

/**
 * Sends sd_notify messages, one at a time and in call order. A no-op when
 * the socket is unset. Every method resolves `true` once the message was
 * sent, `false` if there was nothing to send to or it failed; it never
 * rejects: failures go to `onError` and the process goes on.
 */
export class Notifier {
  /** The parsed socket, or `undefined` when notification is off. */
  readonly socket: NotifySocket | undefined;
  readonly #send: NotifySender;
  readonly #onError: (error: TableflipError) => void;
  readonly #clock: () => bigint;
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * `socket` is the `NOTIFY_SOCKET` value (or `undefined`). Throws a
   * {@link NotifySocketError} at once for a malformed one, so a bad unit
   * shows up at start-up rather than as a start timeout.
   */
  constructor(socket: string | undefined, send: NotifySender, options: NotifierOptions = {}) {
    this.socket = parseNotifySocket(socket);
    this.#send = send;
    this.#onError = options.onError ?? (() => {});
    this.#clock = options.clock ?? nodeMonotonicUsec;
  }

  /** Whether messages go anywhere (`NOTIFY_SOCKET` was set). */
  get enabled(): boolean {
    return this.socket !== undefined;
  }

  /** `READY=1`: start-up finished, or (with `Type=notify-reload`) a reload did. */
  ready(status?: string): Promise<boolean> {
    return this.#notify(() => withStatus({ READY: 1 }, status));
  }

  /** `RELOADING=1` with `MONOTONIC_USEC=<CLOCK_MONOTONIC in µs>`: a reload (upgrade) began. */
  reloading(status?: string): Promise<boolean> {
    return this.#notify(() => withStatus({ RELOADING: 1, MONOTONIC_USEC: this.#clock() }, status));
  }

  /** `STOPPING=1`: shutting down. */
  stopping(status?: string): Promise<boolean> {
    return this.#notify(() => withStatus({ STOPPING: 1 }, status));
  }

  /** `STATUS=<text>` (line breaks become spaces): shown by `systemctl status`. */
  status(text: string): Promise<boolean> {
    return this.#notify(() => ({ STATUS: oneLine(text) }));
  }

  /** `MAINPID=<pid>` followed by `extra` fields (e.g. `{ READY: 1 }`): the service's main process changed. */
  mainPid(pid: number, extra: Record<string, string | number> = {}): Promise<boolean> {
    return this.#notify(() => {
      if (!Number.isSafeInteger(pid) || pid <= 0) {
        throw new TableflipError("ERR_INVALID_ARGUMENT", `MAINPID must be a pid, not ${pid}`);
      }
      return { MAINPID: pid, ...extra };
    });
  }

  /** Sends any fields (see {@link notifyMessage}). */
  send(fields: Record<string, string | number | bigint>): Promise<boolean> {
    return this.#notify(() => fields);
  }

  #notify(build: () => Record<string, string | number | bigint>): Promise<boolean> {
    const socket = this.socket;
    if (!socket) return Promise.resolve(false);
    // Built now (MONOTONIC_USEC is the time of the call), sent after the previous message.
    let message: string;
    try {
      message = notifyMessage(build());
    } catch (error) {
      this.#report(error, socket);
      return Promise.resolve(false);
    }
    const sent = this.#queue.then(() => this.#send(socket.address, message)).then(
      () => true,
      (error) => {
        this.#report(error, socket);
        return false;
      },
    );
    this.#queue = sent;
    return sent;
  }

  #report(error: unknown, socket: NotifySocket): void {
    const typed = error instanceof TableflipError ? error : new TableflipError(
      "ERR_NOTIFY",
      `sd_notify to ${socket.address} failed: ${(error as Error)?.message ?? String(error)}`,
      { cause: error },
    );
    try {
      this.#onError(typed);
    } catch {
      // A throwing hook must not break the caller either.
    }
  }
}

/**
 * A {@link Notifier} for `NOTIFY_SOCKET` as `backend` sees it, sending
 * through `backend.sdNotify` with `backend.monotonicUsec` as the clock.
 * Throws a {@link NotifySocketError} for a malformed `NOTIFY_SOCKET`, and on
 * Deno a `PermissionError` naming `--allow-env=NOTIFY_SOCKET` without it.
 */
export function notifierFor(
  backend: Backend,
  options: Omit<NotifierOptions, "clock"> = {},
): Notifier {
  return new Notifier(
    backend.getEnv(NOTIFY_SOCKET_ENV),
    (socket, message) => backend.sdNotify(socket, message),
    { ...options, clock: () => backend.monotonicUsec() },
  );
}

function withStatus(
  fields: Record<string, string | number | bigint>,
  status: string | undefined,
): Record<string, string | number | bigint> {
  return status === undefined ? fields : { ...fields, STATUS: oneLine(status) };
}

/** Node's `process.hrtime.bigint()` in µs; an error on Bun and Deno, whose hrtime starts at 0. */
function nodeMonotonicUsec(): bigint {
  const g = globalThis as {
    Bun?: unknown;
    Deno?: unknown;
    process?: { hrtime?: { bigint?: () => bigint } };
  };
  const hrtime = g.process?.hrtime?.bigint;
  if (g.Bun !== undefined || g.Deno !== undefined || !hrtime) {
    throw new TableflipError(
      "ERR_UNSUPPORTED",
      "no CLOCK_MONOTONIC source for MONOTONIC_USEC on this runtime: pass " +
        "NotifierOptions.clock (Backend#monotonicUsec) or use notifierFor()",
    );
  }
  return hrtime() / 1000n;
}
