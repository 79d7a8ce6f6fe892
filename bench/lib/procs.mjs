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

/**
 * The fields of /proc/<pid>/stat from the third (state) on, or undefined if
 * it is gone: stat(5)'s field N is `[N - 3]` (the command name before them may
 * hold spaces and parentheses, so they are read from its last ")").
 */
export function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** The state letter of `pid` from /proc/<pid>/stat, or undefined if it is gone. */
export function stateOf(pid) {
  return statFields(pid)?.[0];
}

/** Every pid in /proc, with the fields of its stat (see {@link statFields}). */
export function* processes() {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(name);
    if (fields) yield [Number(name), fields];
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
    for (const [pid, fields] of processes()) {
      // Field 4 of stat(5): ppid.
      if (!pids.has(pid) && pids.has(Number(fields[1]))) {
        pids.add(pid);
        grew = true;
      }
    }
  }
  return pids;
}

/** Every live process whose process group is `pgid`. */
export function groupPids(pgid) {
  const pids = [];
  // Fields 3 and 5 of stat(5): state, pgrp.
  for (const [pid, fields] of processes()) {
    if (fields[0] !== "Z" && Number(fields[2]) === pgid) pids.push(pid);
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
  const fields = statFields(pid);
  // Fields 14 and 15 of stat(5): utime, stime.
  return fields && Number(fields[11]) + Number(fields[12]);
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
