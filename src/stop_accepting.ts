/**
 * Stopping a listener without touching the connections it accepted.
 *
 * @module
 */
import { Server as NetServer } from "node:net";

/**
 * Closes a listener without touching its connections: `net.Server`'s close,
 * not http's (which also kills idle keep-alive sockets at once). A listener
 * that is not a real `net.Server` (Bun's `http.Server`) gets its own close.
 * Resolves once the listener has closed and its connections have ended.
 */
export function stopAccepting(listener: NetServer): Promise<void> {
  return new Promise<void>((resolve) => {
    try {
      NetServer.prototype.close.call(listener, () => resolve());
    } catch {
      listener.close(() => resolve());
    }
  });
}
