// wrk (Debian's package) as a benchmark's HTTP load generator: one thread,
// one process, written in C, so it leaves the cores to the servers it loads
// (autocannon, lib/load.mjs, took 0.7-0.9 of a core for the same load).
// It reports totals, not every response: requests, failures by kind, p50/p99
// and its own CPU time (the shell's `times` after wrk exits).
import { spawn, spawnSync } from "node:child_process";
import process from "node:process";
import { createInterface } from "node:readline";

/** Load generators still running: killed when the benchmark exits (also on Ctrl-C). */
const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** wrk's version line, or undefined when wrk is not installed. */
export function wrkVersion() {
  const out = spawnSync("wrk", ["--version"], { encoding: "utf8" });
  if (out.error) return undefined;
  return `${out.stdout}${out.stderr}`.split("\n")[0].trim();
}

/** Milliseconds from one of wrk's durations: "812.00us", "3.41ms", "1.20s", "2.00m". */
export function wrkMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]];
}

/** Seconds from the shell's `times` ("0m1.230000s"). */
const timesSeconds = (text) => {
  const m = /^(\d+)m([\d.]+)s$/.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
};

/**
 * The figures of one wrk run from its output (with `--latency`) and the
 * shell's `times` after it.
 * @param {string} out
 * @returns {{ requests: number, seconds: number, failed: Record<string, number>,
 *   p50: number, p99: number, cpu: { user: number, system: number } }}
 */
export function parseWrk(out) {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  if (!total) throw new Error(`wrk printed no totals:\n${out}`);
  const seconds = wrkMs(`${total[2]}${total[3]}`) / 1000;
  const failed = {};
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (socket) {
    // connect: refused (or any connect error); read/write: reset or closed before the answer.
    const [connect, read, write, timeout] = socket.slice(1).map(Number);
    if (connect) failed.refused = connect;
    if (read + write) failed.reset = read + write;
    if (timeout) failed.timeout = timeout;
  }
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) failed["non-2xx"] = Number(non2xx[1]);
  const pct = (p) => wrkMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(out)?.[1] ?? "");
  // `times`: the shell's own times, then its children's (wrk's) user and system.
  const lines = out.trim().split("\n");
  const [user, system] = (lines.at(-1) ?? "").trim().split(/\s+/).map(timesSeconds);
  return {
    requests: Number(total[1]) - (failed["non-2xx"] ?? 0),
    seconds,
    failed,
    p50: pct(50),
    p99: pct(99),
    cpu: { user: user * 1e6, system: system * 1e6 },
  };
}

/**
 * Starts `wrk -t1` against http://127.0.0.1:port/path (`Connection: close`
 * on every request in mode "close"), with the soft fd limit raised to the
 * hard one. `started` resolves with its start time (epoch ms), `done` with
 * parseWrk's figures plus `start` and `end`.
 * @param {{ port: number, path?: string, connections: number, mode: "keepalive" | "close",
 *   duration: number, timeout?: number }} config
 */
export function startWrk(config) {
  const args = [
    "-t1",
    `-c${config.connections}`,
    `-d${config.duration}s`,
    `--timeout`,
    `${config.timeout ?? 5}s`,
    "--latency",
    ...(config.mode === "close" ? ["-H", "Connection: close"] : []),
    `http://127.0.0.1:${config.port}${config.path ?? "/"}`,
  ];
  const script = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; wrk "$@"; s=$?; times; exit $s';
  const start = Date.now();
  const child = spawn("/bin/sh", ["-c", script, "sh", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  running.add(child);
  let out = "";
  createInterface({ input: child.stdout }).on("line", (line) => out += line + "\n");
  const done = new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      running.delete(child);
      if (code !== 0) return reject(new Error(`wrk exited with ${code}:\n${out}`));
      try {
        resolve({ ...parseWrk(out), start, end: Date.now() });
      } catch (error) {
        reject(error);
      }
    });
  });
  return { child, started: Promise.resolve(start), done };
}
