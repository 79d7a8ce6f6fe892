// Package stage: waiting for processes and servers, by polling (the demo's
// generations are not children of this process).
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import process from "node:process";
import { WAIT_MS } from "./constants.mjs";

/** The pid in a PID file, or `undefined` if it is missing or not one pid line. */
export function readPid(path) {
  try {
    const text = readFileSync(path, "utf8");
    return /^\d+\n?$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` runs: it exists and is not a zombie (exited, waiting for init to reap it). */
export function alive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.charAt(stat.lastIndexOf(")") + 2) !== "Z") return true;
    // A zombie main thread, but other threads may still be exiting and still
    // hold the process's fds: exited only once it is the last one left.
    return readdirSync(`/proc/${pid}/task`).length > 1;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the pid is gone. */
export async function stop(pid) {
  if (!alive(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const gone = await until(() => !alive(pid), (x) => x, 5_000);
  if (!gone.ok) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
    await until(() => !alive(pid), (x) => x, 5_000);
  }
}

/** Polls `get` every 100 ms until `accept(value)`, `limit` ms or `giveUp()`; never throws. */
export async function until(get, accept, limit = WAIT_MS, giveUp = () => false) {
  const deadline = Date.now() + limit;
  let last;
  for (;;) {
    let value;
    try {
      value = await get();
    } catch (error) {
      last = String(error?.message ?? error);
    }
    if (value !== undefined) last = value;
    if (value !== undefined && accept(value)) return { ok: true, value, last };
    if (Date.now() >= deadline || giveUp()) return { ok: false, value, last };
    await sleep(100);
  }
}

/** GET /version on a fresh connection; resolves with the trimmed body. */
export function getVersion(port) {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: "127.0.0.1", port, path: "/version", agent: false, timeout: 2_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => body += chunk);
        res.on(
          "end",
          () => resolve(res.statusCode === 200 ? body.trim() : `HTTP ${res.statusCode}`),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
  });
}

/** Resolves after `ms` (for the polling above, and the demo's exit limit). */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
