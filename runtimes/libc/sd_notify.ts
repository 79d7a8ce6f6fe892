/**
 * sd_notify for the runtimes with libc FFI (Bun, Deno): the message goes
 * out as one datagram from a fresh `AF_UNIX`/`SOCK_DGRAM` socket, so it is
 * sent from this very process's pid (systemd's default `NotifyAccess=main`
 * accepts it when this is the main process).
 *
 * @module
 */
import { TableflipError } from "../../src/errors.ts";
import type { Libc } from "./libc.ts";

/**
 * Sends `message` to `socket` (a path or `@name`) through `libc`. Resolves
 * once the kernel took the datagram; rejects with a `TableflipError`
 * (`ERR_NOTIFY`) carrying the failed call (e.g. ENOENT, ECONNREFUSED, EAGAIN).
 */
export function sendThroughLibc(socket: string, message: string, libc: Libc): Promise<void> {
  try {
    libc.sendDatagram(socket, new TextEncoder().encode(message));
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(
      new TableflipError(
        "ERR_NOTIFY",
        `sd_notify to ${socket} failed: ${(error as Error).message}`,
        { cause: error },
      ),
    );
  }
}
