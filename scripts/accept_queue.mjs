// The accept queue of a TCP listener on 127.0.0.1, from Linux's /proc: for a
// socket in LISTEN state (st 0A), /proc/net/tcp's rx_queue is the number of
// connections the kernel has completed and the process has not accepted yet.
// Used by bench/accept_bench.mjs and test/fixtures/accept_probe.mjs.
//
// /proc/net/tcp lists every socket, connections included: at 10,000
// connections (20,000 rows and more) reading it every 250 ms cost the storm
// bench 20-45% of a core. `acceptQueueOfListener` asks iproute2's `ss` for the
// listening sockets only (the kernel filters them), where `ss` is installed.
import { execFileSync } from "node:child_process";
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

/** Whether `ss` (iproute2) runs here; checked once. */
let hasSs;

/**
 * As {@link acceptQueue} (but IPv6 listeners of the port count too), through
 * `ss -Hltn` (listening sockets only: cheap however many connections there
 * are); falls back to {@link acceptQueue} without `ss`.
 */
export function acceptQueueOfListener(port) {
  if (hasSs !== false) {
    try {
      const out = execFileSync("ss", ["-Hltn", `sport = :${port}`], { encoding: "utf8" });
      hasSs = true;
      let queued;
      for (const line of out.split("\n")) {
        // State Recv-Q Send-Q Local Peer; for a listener Recv-Q is the accept queue.
        const [state, recvQ] = line.trim().split(/\s+/);
        if (state === "LISTEN") {
          queued = (queued ?? 0) + Number(recvQ);
        }
      }
      return queued;
    } catch (error) {
      if (hasSs === true) throw error;
      hasSs = false;
    }
  }
  return acceptQueue(port);
}
