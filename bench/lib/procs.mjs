// /proc helpers for the benchmark (Linux only): process liveness, RSS, and
// the descendants of a set of pids.
import { readdirSync, readFileSync } from "node:fs";

/** Whether `pid` is alive (and not a zombie). */
export function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return stateOf(pid) !== "Z";
}

/** The state letter of `pid` from /proc/<pid>/stat, or undefined if it is gone. */
export function stateOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

/** Resident set size of `pid` in bytes (0 if it is gone). */
export function rss(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(status.match(/^VmRSS:\s+(\d+)/m)?.[1] ?? 0);
    return kb * 1024;
  } catch {
    return 0;
  }
}

/** Adds to `pids` every process whose parent is in `pids` (repeatedly, so grandchildren too). */
export function addDescendants(pids) {
  let grew = true;
  while (grew) {
    grew = false;
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      if (pids.has(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, "utf8");
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        if (pids.has(ppid)) {
          pids.add(pid);
          grew = true;
        }
      } catch {
        // Exited while we looked.
      }
    }
  }
  return pids;
}

/** Every live process whose process group is `pgid`. */
export function groupPids(pgid) {
  const pids = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // Fields 3 and 5 of stat(5): state, pgrp.
      if (fields[0] !== "Z" && Number(fields[2]) === pgid) pids.push(Number(name));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

/**
 * The machine's CPU time so far from /proc/stat, in ms summed over all cores:
 * `busy` (user, nice, system, irq, softirq, steal) and `total` (with idle
 * and iowait).
 */
export function machineCpuMs() {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1)
    .map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields;
  const toMs = (ticks) => (ticks * 1000) / CLK_TCK;
  return {
    busy: toMs(user + nice + system + irq + softirq + steal),
    total: toMs(user + nice + system + idle + iowait + irq + softirq + steal),
  };
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux). */
export const CLK_TCK = 100;

/** The same, under the name the workers bench uses with {@link cpuTicks}. */
export const TICKS_PER_SECOND = CLK_TCK;

/** utime + stime of `pid` (all its threads) in clock ticks, or undefined if it is gone. */
function ticksOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of stat(5): utime, stime; `fields` starts at field 3 (state).
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** utime + stime of `pid` (all its threads) in ms, or undefined if it is gone. */
export function cpuMs(pid) {
  const ticks = ticksOf(pid);
  return ticks === undefined ? undefined : (ticks * 1000) / CLK_TCK;
}

/** CPU time (user + system) `pid` has used so far, in clock ticks (0 if it is gone). */
export function cpuTicks(pid) {
  return ticksOf(pid) ?? 0;
}

/**
 * This process's limit of open files, from /proc/self/limits. Node raises its
 * soft limit to the hard one at start, so every Node process the benches start
 * (servers, load generator, PM2) gets the hard limit.
 */
export function openFilesLimit() {
  try {
    const m = readFileSync("/proc/self/limits", "utf8").match(/^Max open files\s+(\S+)\s+(\S+)/m);
    return { soft: m?.[1] ?? "?", hard: m?.[2] ?? "?" };
  } catch {
    return { soft: "?", hard: "?" };
  }
}
