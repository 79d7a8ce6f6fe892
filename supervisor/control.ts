/**
 * The supervisor's control socket: a unix stream socket in a directory only
 * the service's user can enter (mode 0700; the socket itself 0600), where
 * `tableflip upgrade` and `tableflip status` send one JSON line and read one
 * back. Signals (SIGHUP, SIGTERM) keep working without it.
 *
 * Peer credentials (`SO_PEERCRED`) are not read: Node cannot, and the modes
 * already keep other users out (the kernel checks them at `connect`).
 *
 * @module
 */
import { chmod, mkdir, rm, stat } from "node:fs/promises";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { describeCause, TableflipError } from "../src/errors.ts";
import { LineSplitter } from "../src/protocol.ts";

/** A request on the control socket. */
export type ControlRequest = { cmd: "status" } | { cmd: "upgrade" };

/** Longest a client waits for an answer by default: an upgrade may take its whole timeout. */
export const CONTROL_CLIENT_TIMEOUT_MS = 10 * 60_000;

/**
 * The default control socket of the supervisor with pid `pid`:
 * `$RUNTIME_DIRECTORY` (systemd's `RuntimeDirectory=`), else
 * `$XDG_RUNTIME_DIR`, else the temp directory, then
 * `tableflip-<uid>/<pid>.sock`.
 */
export function defaultControlPath(pid: number, env: Record<string, string | undefined>): string {
  const base = env.RUNTIME_DIRECTORY?.split(":")[0] || env.XDG_RUNTIME_DIR || tmpdir();
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  return join(base, `tableflip-${uid}`, `${pid}.sock`);
}

/**
 * Listens on `path` (its directory created 0700 if missing, refused if it
 * is another user's or others may write to it) and answers each request
 * line with `handler`'s JSON. The socket itself is 0600. Returns a function
 * that closes it and removes the socket.
 */
export async function serveControl(
  path: string,
  handler: (request: ControlRequest) => Promise<unknown>,
): Promise<() => Promise<void>> {
  await privateDirectory(dirname(path));
  await rm(path, { force: true });
  const server: Server = createServer((socket) => {
    const splitter = new LineSplitter();
    socket.on("error", () => {});
    socket.on("data", (chunk) => {
      for (const line of splitter.push(chunk.toString())) {
        let request: ControlRequest;
        try {
          request = JSON.parse(line);
        } catch {
          socket.end(
            `${JSON.stringify({ ok: false, code: "ERR_CONTROL", message: "not JSON" })}\n`,
          );
          continue;
        }
        handler(request).then(
          (answer) => socket.end(`${JSON.stringify(answer)}\n`),
          (error) =>
            socket.end(
              `${JSON.stringify({ ok: false, code: "ERR_CONTROL", message: String(error) })}\n`,
            ),
        );
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  server.unref();
  await chmod(path, 0o600);
  return async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(path, { force: true });
  };
}

/** Sends one request to the control socket at `path` and returns the parsed answer. */
export function askControl(
  path: string,
  request: ControlRequest,
  timeoutMs = CONTROL_CLIENT_TIMEOUT_MS,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const splitter = new LineSplitter();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TableflipError("ERR_CONTROL", `no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("connect", () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on("data", (chunk) => {
      const [line] = splitter.push(chunk.toString());
      if (line === undefined) return;
      clearTimeout(timer);
      socket.end();
      try {
        resolve(JSON.parse(line));
      } catch (cause) {
        reject(
          new TableflipError("ERR_CONTROL", `malformed answer from ${path}: ${line}`, { cause }),
        );
      }
    });
    socket.on("error", (cause) => {
      clearTimeout(timer);
      reject(
        new TableflipError(
          "ERR_CONTROL",
          `cannot reach the supervisor's control socket ${path}${describeCause(cause)}`,
          { cause },
        ),
      );
    });
  });
}

async function privateDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await stat(dir);
  const uid = typeof process.getuid === "function" ? process.getuid() : info.uid;
  // Others may look in (systemd's RuntimeDirectory= is 0755), but not replace the socket.
  if (info.uid !== uid || (info.mode & 0o022) !== 0) {
    const mode = (info.mode & 0o7777).toString(8);
    throw new TableflipError(
      "ERR_CONTROL",
      `the control directory ${dir} must belong to uid ${uid} and be writable by it alone ` +
        `(it is uid ${info.uid}, mode 0${mode}); pass --control with a path in a directory ` +
        `of your own, e.g. /tmp/tableflip/control.sock`,
    );
  }
}
