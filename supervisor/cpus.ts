/**
 * How many workers `--workers auto` means: the CPUs this process may use,
 * `os.availableParallelism()` (which honours the affinity mask), capped by
 * a cgroup v2 CPU quota (`cpu.max`, as a container's `--cpus` sets it).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/** The usable CPU count, at least 1. `cgroupFile` is read for a quota. */
export function usableCpus(cgroupFile = "/sys/fs/cgroup/cpu.max"): number {
  const cpus = availableParallelism();
  const quota = cgroupQuota(cgroupFile);
  return Math.max(1, quota === undefined ? cpus : Math.min(cpus, quota));
}

/** `ceil(quota / period)` from a `cpu.max` file (`"200000 100000"`), or `undefined` for `max`. */
export function cgroupQuota(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
  const [quota, period] = text.split(/\s+/);
  if (quota === "max" || !/^\d+$/.test(quota) || !/^\d+$/.test(period ?? "")) return undefined;
  return Math.ceil(Number(quota) / Number(period));
}
