// The kernel's TCP counters of this network namespace (/proc/net/netstat and
// /proc/net/snmp) that tell whether a listener's queues overflowed: read
// before and after a run, their difference says whether handshakes were
// dropped (each costs its client a SYN retransmission: 1 s, then 3 s, 7 s).
import { readFileSync } from "node:fs";

/** The counters read, by the names the kernel gives them. */
export const TCP_COUNTERS = [
  "ListenOverflows", // a connection completed while the accept queue was full
  "ListenDrops", // any SYN or handshake dropped by a listener
  "TCPReqQFullDrop", // a SYN dropped: request queue full and no syncookies
  "TCPReqQFullDoCookies", // a SYN answered with a syncookie (request queue full)
  "TCPSynRetrans", // SYNs and SYN-ACKs retransmitted
  "TCPTimeouts", // retransmission timeouts
  "RetransSegs", // segments retransmitted
];

/** Parses the "Header: names" / "Header: values" line pairs of a /proc/net file. */
function parsePairs(text) {
  const out = {};
  const lines = text.trim().split("\n");
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i].split(/\s+/).slice(1);
    const values = lines[i + 1].split(/\s+/).slice(1);
    names.forEach((name, j) => (out[name] = Number(values[j])));
  }
  return out;
}

/** The current value of every counter in {@link TCP_COUNTERS} (missing ones are 0). */
export function readTcpCounters() {
  const all = {
    ...parsePairs(readFileSync("/proc/net/netstat", "utf8")),
    ...parsePairs(readFileSync("/proc/net/snmp", "utf8")),
  };
  return Object.fromEntries(TCP_COUNTERS.map((name) => [name, all[name] ?? 0]));
}

/** `after - before` for each counter. */
export function counterDelta(before, after) {
  return Object.fromEntries(TCP_COUNTERS.map((name) => [name, after[name] - before[name]]));
}
