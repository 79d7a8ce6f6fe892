// CPU time and RSS of groups of processes over a window, from /proc: CPU as
// utime + stime (all threads), RSS as VmRSS, sampled every 25 ms.
import { cpuMs, rss } from "./procs.mjs";

/**
 * Opens a window over `roles` (name -> function returning the role's pids,
 * looked up at every sample, so generations that start or exit within the
 * window are followed). A pid seen at the window's start counts from its CPU
 * time then; one first seen later counts from 0 (it started within the
 * window). A process that exits within the window counts up to its last
 * sample (at most 25 ms of CPU missed). `close()` returns, per role:
 * { cpuMs, cpuPct (of one core), rssMb (mean of samples), peakRssMb }.
 * @param {Record<string, () => number[]>} roles
 */
export function openWindow(roles, every = 25) {
  const t0 = performance.now();
  /** @type {Record<string, { base: Map<number, number>, last: Map<number, number>, rss: number[] }>} */
  const state = {};
  for (const [name, pids] of Object.entries(roles)) {
    const base = new Map();
    for (const pid of pids()) {
      const c = cpuMs(pid);
      if (c !== undefined) base.set(pid, c);
    }
    state[name] = { base, last: new Map(base), rss: [] };
  }
  const sample = () => {
    for (const [name, pids] of Object.entries(roles)) {
      const s = state[name];
      let total = 0;
      for (const pid of pids()) {
        const c = cpuMs(pid);
        if (c === undefined) continue;
        if (!s.base.has(pid)) s.base.set(pid, 0);
        s.last.set(pid, c);
        total += rss(pid);
      }
      s.rss.push(total);
    }
  };
  sample();
  const timer = setInterval(sample, every);
  return {
    close() {
      sample();
      clearInterval(timer);
      const ms = performance.now() - t0;
      const out = { windowMs: ms };
      for (const [name, s] of Object.entries(state)) {
        let cpu = 0;
        for (const [pid, last] of s.last) cpu += last - s.base.get(pid);
        const mb = s.rss.map((b) => b / 2 ** 20);
        out[name] = {
          cpuMs: cpu,
          cpuPct: (cpu / ms) * 100,
          rssMb: mb.reduce((a, b) => a + b, 0) / Math.max(1, mb.length),
          peakRssMb: Math.max(0, ...mb),
        };
      }
      return out;
    },
  };
}
