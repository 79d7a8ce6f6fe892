/**
 * sd_notify on Node, which has no unix datagram sockets (`node:dgram` is
 * UDP only): each message is handed to systemd's own `systemd-notify`
 * tool, one `NAME=value` argument per line after `--`, with `NOTIFY_SOCKET`
 * in its environment. What systemd-notify 252 does with it (checked by
 * test/sd_notify.test.ts):
 *
 * - It sends the message with SCM_CREDENTIALS naming its parent's pid (this
 *   process) when it may (root, or CAP_SYS_ADMIN); otherwise it is sent from
 *   systemd-notify's own pid, which systemd accepts only with
 *   `NotifyAccess=all`.
 * - It then sends `BARRIER=1` with a pipe fd and waits (up to 5 s) until the
 *   receiver has closed it, so systemd has read the message before the
 *   sender's pid is gone. It exits 1 with a reason on stderr when it cannot
 *   send.
 *
 * @module
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { TableflipError } from "../src/errors.ts";

/** The tool, looked up on `PATH` (Debian's `systemd` package installs it in /usr/bin). */
export const SYSTEMD_NOTIFY = "systemd-notify";

/** After this, a systemd-notify that has not exited is killed (its own barrier wait is 5 s). */
export const SYSTEMD_NOTIFY_TIMEOUT_MS = 10_000;

/**
 * Sends `message` to `socket` by running `systemd-notify`. Resolves once it
 * exited 0; rejects with a `TableflipError` (`ERR_NOTIFY`) naming the reason.
 */
export function systemdNotify(
  socket: string,
  message: string,
  executable: string = SYSTEMD_NOTIFY,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (why: string, cause?: unknown) =>
      reject(new TableflipError("ERR_NOTIFY", `sd_notify to ${socket} failed: ${why}`, { cause }));
    // "--": a line is never taken for an option, whatever it starts with.
    const child = spawn(executable, ["--", ...message.split("\n")], {
      env: { ...process.env, NOTIFY_SOCKET: socket },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => stderr = (stderr + chunk).slice(-2000));
    const timer = setTimeout(() => child.kill("SIGKILL"), SYSTEMD_NOTIFY_TIMEOUT_MS);
    child.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === "ENOENT") {
        fail(
          `${executable} is not installed (Node sends through it: install the systemd ` +
            `package, or run on Bun or Deno, which send the datagram themselves)`,
          error,
        );
      } else fail(`cannot run ${executable}: ${error.message}`, error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      fail(`${executable} ${how}${stderr.trim() ? `: ${stderr.trim()}` : ""}`);
    });
  });
}
