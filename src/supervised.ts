/**
 * The generation's side of a supervisor (`tableflip run`): the lines it
 * reads and writes on the control socket. The supervisor holds the sockets
 * and starts every generation; a generation asks it for an upgrade and is
 * told when to drain.
 *
 * @module
 */
import type { ParentLink } from "./backend.ts";
import { type ErrorCode, TableflipError } from "./errors.ts";
import { LINES } from "./protocol.ts";

/** What the supervisor can tell a generation. */
export interface SupervisorHandlers {
  /** A newer generation is ready: settle `exit`. */
  drain(): void;
  /** The upgrade this generation asked for failed. */
  failed(error: TableflipError): void;
}

/** Routes the supervisor's lines to `handlers`; unknown lines are ignored (newer supervisors). */
export function listenToSupervisor(parent: ParentLink, handlers: SupervisorHandlers): void {
  parent.onLine((line) => {
    if (line === LINES.drain) handlers.drain();
    else if (line.startsWith(LINES.failed)) handlers.failed(decodeFailure(line));
  });
}

/** Asks the supervisor for an upgrade. */
export function requestUpgrade(parent: ParentLink): Promise<void> {
  return parent.send(LINES.upgrade);
}

/** The `failed` line the supervisor sends for `error`. */
export function encodeFailure(error: { code: string; message: string }): string {
  return `${LINES.failed}${JSON.stringify({ code: error.code, message: error.message })}`;
}

/**
 * What `listen()` throws under a supervisor for an address it does not hold
 * (`held`: the unclaimed listeners it does hold), naming the flag to add.
 */
export function notHeldError(network: string, address: string, held: string[]): TableflipError {
  return new TableflipError(
    "ERR_LISTENER_NOT_HELD",
    `the supervisor holds no ${network} listener for ${JSON.stringify(address)} ` +
      `(unclaimed: ${held.length ? held.join(", ") : "none"}). Under tableflip run, ` +
      `every listener comes from the supervisor, so the next generation can have it too: ` +
      `add --listen ${network}:${address} to the tableflip run command (or a socket to the ` +
      `systemd .socket unit)`,
  );
}

function decodeFailure(line: string): TableflipError {
  try {
    const { code, message } = JSON.parse(line.slice(LINES.failed.length));
    if (typeof code === "string" && typeof message === "string") {
      return new TableflipError(code as ErrorCode, `the supervisor's upgrade failed: ${message}`);
    }
  } catch {
    // Fall through to the generic error.
  }
  return new TableflipError("ERR_CONTROL", `the supervisor sent a malformed line: ${line}`);
}
