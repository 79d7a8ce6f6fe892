// The accept queue of a TCP listener on 127.0.0.1, from Linux's /proc: for a
// socket in LISTEN state (st 0A), /proc/net/tcp's rx_queue is the number of
// connections the kernel has completed and the process has not accepted yet.
// Used by bench/accept_bench.mjs and test/fixtures/accept_probe.mjs.
import { readFileSync } from "node:fs";

/**
 * Connections waiting to be accepted on the IPv4 listener of `port` (summed
 * over its sockets, if several share it with SO_REUSEPORT), or undefined if
 * there is none.
 */
export function acceptQueue(port) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  let queued;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n")) {
    const [, local, , state, queues] = line.trim().split(/\s+/);
    if (local?.endsWith(hex) && state === "0A") {
      queued = (queued ?? 0) + parseInt(queues.split(":")[1], 16);
    }
  }
  return queued;
}
