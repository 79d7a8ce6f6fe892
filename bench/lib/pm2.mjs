// PM2 for bench/workers_bench.mjs: the pinned PM2 (devDependency) run by
// Node 22, with its own PM2_HOME in a temp directory, so it neither sees nor
// touches any other PM2 on the machine. Its daemon (the cluster primary) runs
// on the Node that runs the CLI, so every worker runs Node 22 too.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, RUNTIMES } from "../../scripts/runtimes.mjs";
import { alive } from "./procs.mjs";

const NODE = RUNTIMES.node22.exe;
const CLI = join(ROOT, "node_modules", "pm2", "bin", "pm2");
const APP = "hello";

/** A PM2 daemon of our own under `home`. */
export class Pm2 {
  /** @param {string} home a PM2_HOME (created) */
  constructor(home) {
    mkdirSync(home, { recursive: true });
    this.home = home;
    this.env = { ...process.env, PM2_HOME: home };
  }

  /** Runs `pm2 ...args`; resolves with its output, rejects on a non-zero exit. */
  cli(...args) {
    return new Promise((resolve, reject) => {
      const child = spawn(NODE, [CLI, ...args], {
        env: this.env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (d) => out += d);
      child.stderr.on("data", (d) => out += d);
      child.once("exit", (code) => {
        if (code === 0) resolve(out);
        else reject(new Error(`pm2 ${args.join(" ")} exited with ${code}: ${out.slice(-2000)}`));
      });
    });
  }

  /**
   * Starts `script` in cluster mode, in the usual app shape (see
   * /work/shared deployment facts: wait_ready, listen_timeout, kill_timeout).
   * @param {string} script
   * @param {Record<string, string>} env
   * @param {number} instances
   */
  async start(script, env, instances) {
    const file = join(this.home, "ecosystem.json");
    const app = {
      name: APP,
      script,
      instances,
      exec_mode: "cluster",
      wait_ready: true,
      listen_timeout: 10_000,
      kill_timeout: 30_000,
      merge_logs: true,
      out_file: "/dev/null",
      error_file: join(this.home, "app-err.log"),
      env,
    };
    writeFileSync(file, JSON.stringify({ apps: [app] }));
    await this.cli("start", file);
  }

  /** `pm2 reload hello`: resolves when the command returns. */
  reload() {
    return this.cli("reload", APP);
  }

  /** `pm2 delete hello`. */
  delete() {
    return this.cli("delete", APP);
  }

  /** The daemon's pid, if it runs. */
  daemonPid() {
    try {
      const pid = Number(readFileSync(join(this.home, "pm2.pid"), "utf8").trim());
      return pid && alive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * `pm2 kill`, synchronously (also usable from a signal handler), then
   * SIGKILL to the daemon's process group should anything be left.
   */
  killSync() {
    const pid = this.daemonPid();
    spawnSync(NODE, [CLI, "kill"], { env: this.env, stdio: "ignore", timeout: 15_000 });
    if (pid && alive(pid)) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }
}
