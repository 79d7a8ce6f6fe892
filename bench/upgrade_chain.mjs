#!/usr/bin/env node
// Many upgrades in a row (default 100) of the raw-TCP echo server, one after
// the other, each waiting for the old process to exit. Checks that nothing
// accumulates: open fds and RSS of the current generation, live processes,
// zombie children of any generation. The uvu chaos suite does the same with 15; this is the long run.
//
//   node bench/upgrade_chain.mjs [--runtime node20] [--count 100]
//
// Exits non-zero if the last generation has more open fds than any of the first five,
// if more than one generation is alive at the end, or if any zombie is left.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { commandFor, ROOT, runtime as lookupRuntime } from "../scripts/runtimes.mjs";
import { alive, processes, rss } from "./lib/procs.mjs";

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node20" },
    count: { type: "string", default: "100" },
  },
});
const runtimeName = lookupRuntime(values.runtime).name;
const count = Number(values.count);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check, what, limit = 60_000) {
  const end = Date.now() + limit;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const readPid = (file) => {
  try {
    return Number(readFileSync(file, "utf8").trim()) || undefined;
  } catch {
    return undefined;
  }
};
const fdCount = (pid) => readdirSync(`/proc/${pid}/fd`).length;

const dir = mkdtempSync(join(tmpdir(), "tableflip-chain-"));
const pidFile = join(dir, "app.pid");
const argv = commandFor(runtimeName, join(ROOT, "bench", "servers", "echo_server.ts"));
const first = spawn(argv[0], argv.slice(1), {
  cwd: ROOT,
  env: { ...process.env, BENCH_ADDR: "127.0.0.1:0", BENCH_PID_FILE: pidFile },
  stdio: ["ignore", "pipe", "inherit"],
});
/** Pids that reported their parent gone (generation 0 has none). */
const orphaned = new Set([first.pid]);
createInterface({ input: first.stdout }).on("line", (text) => {
  try {
    const line = JSON.parse(text);
    if (line.event === "parent-gone") orphaned.add(line.pid);
  } catch { /* not ours */ }
});
const pids = [first.pid];
const rows = [];
let failed = false;
try {
  await until(() => (readPid(pidFile) === first.pid ? true : undefined), "generation 0");
  const started = Date.now();
  for (let gen = 1; gen <= count; gen++) {
    const old = readPid(pidFile);
    // An upgrade is refused (ERR_PARENT_ALIVE) until the process has seen its parent go.
    await until(() => (orphaned.has(old) ? true : undefined), `${old} to see its parent exit`);
    const t0 = Date.now();
    process.kill(old, "SIGHUP");
    const next = await until(() => {
      const pid = readPid(pidFile);
      return pid && pid !== old ? pid : undefined;
    }, `generation ${gen}`);
    pids.push(next);
    await until(() => (alive(old) ? undefined : true), `generation ${gen - 1} to exit`);
    // Count fds once the new generation has also closed its end of the control socket.
    await until(() => (orphaned.has(next) ? true : undefined), `${next} to see its parent exit`);
    rows.push({
      gen,
      pid: next,
      ms: Date.now() - t0,
      fds: fdCount(next),
      rssMb: rss(next) / 2 ** 20,
    });
    if (gen % 10 === 0 || gen === 1) {
      const r = rows.at(-1);
      console.log(
        `generation ${gen}: pid ${r.pid}, ${r.ms} ms, ${r.fds} fds, ${r.rssMb.toFixed(0)} MB RSS`,
      );
    }
  }
  const living = pids.filter(alive);
  const zombies = [];
  for (const [pid, fields] of processes()) {
    // Generations whose parent exited are init's to reap, on init's schedule; an
    // unreaped child of a live generation would be this library's fault (fields 3
    // and 4 of stat(5): state, ppid).
    if (fields[0] === "Z" && pids.includes(Number(fields[1]))) zombies.push(pid);
  }
  // Runtimes open a few fds lazily (io_uring, thread-pool pipes): compare the most any of
  // the first five generations held with the last one; a leak grows with every upgrade.
  const baseline = Math.max(...rows.slice(0, 5).map((r) => r.fds));
  const last = rows.at(-1);
  console.log(
    `\n${count} upgrades on ${runtimeName} in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
      `fds: generations 1-5 at most ${baseline}, last ${last.fds}; RSS: generation 2 ${
        rows[1]?.rssMb.toFixed(0)
      } MB, last ${last.rssMb.toFixed(0)} MB; alive: ${living.length}; zombies: ${zombies.length}`,
  );
  failed = last.fds > baseline || living.length !== 1 || zombies.length > 0;
  console.log(failed ? "FAIL" : "OK: flat");
} catch (error) {
  console.error(error.message);
  failed = true;
} finally {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
