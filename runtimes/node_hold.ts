/**
 * Holding a listening socket on Node without accepting on it.
 *
 * A supervisor must own its listening sockets for the service's whole life
 * and yet leave every connection to the generation serving them. A Node
 * `net.Server` accepts as soon as it listens, and Node has no FFI for a bare
 * `socket`/`bind`/`listen`. What Node does have: a listening handle sent
 * over IPC arrives as a raw handle that nobody polls. So a short-lived binder
 * process binds, sends the raw handle back and exits; the supervisor keeps
 * the handle (and so the fd) and only ever passes it on.
 *
 * @module
 */
import { spawn } from "node:child_process";
import process from "node:process";
import type { ListenSpec } from "../src/address.ts";
import { LISTEN_BACKLOG } from "./listen_backlog.ts";

/** A listening socket held by this process: its fd, and the port it got. */
export interface HeldSocket {
  fd: number;
  /** The bound port (TCP), or `undefined` for a unix socket. */
  port: number | undefined;
}

/** Raw handles received from binders; kept referenced so their fds stay open. */
const kept: unknown[] = [];

/**
 * The binder: listens as asked, sends the raw handle to its parent, exits.
 * Unix paths are bound under a temporary name and linked into place, so no
 * later close unlinks the real path.
 */
const BINDER = `
const net = require("node:net");
const fs = require("node:fs");
const spec = JSON.parse(process.argv[1]);
const fail = (error) => process.send({ error: error.message, code: error.code }, () => process.exit(1));
const options = spec.network === "unix"
  ? { path: spec.path + "." + process.pid + ".bind" }
  : { host: spec.host, port: spec.port, exclusive: true, ipv6Only: spec.network === "tcp6" };
options.backlog = spec.backlog;
const server = net.createServer();
server.once("error", fail);
server.listen(options, () => {
  try {
    if (spec.network === "unix") {
      fs.linkSync(options.path, spec.path);
      fs.rmSync(options.path);
    }
  } catch (error) {
    return fail(error);
  }
  const port = spec.network === "unix" ? undefined : server.address().port;
  process.send({ port }, server._handle, () => process.exit(0));
});
`;

/** Binds `spec` in a binder process and keeps the listening socket here, unpolled. */
export async function holdWithBinder(spec: ListenSpec): Promise<HeldSocket> {
  // The largest accept queue, as the generations ask for: the kernel caps it at somaxconn.
  const wanted = spec.network === "unix" ? { ...spec, backlog: LISTEN_BACKLOG } : {
    ...spec,
    host: spec.host || (spec.network === "tcp4" ? "0.0.0.0" : "::"),
    backlog: LISTEN_BACKLOG,
  };
  return await new Promise<HeldSocket>((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", BINDER, JSON.stringify(wanted)], {
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`the binder exited with code ${code}`)));
    child.once("message", (message: { port?: number; error?: string; code?: string }, handle) => {
      if (message.error) {
        return reject(Object.assign(new Error(message.error), { code: message.code }));
      }
      const fd = (handle as { fd?: number } | undefined)?.fd;
      if (typeof fd !== "number" || fd < 0) return reject(new Error("the binder sent no socket"));
      kept.push(handle);
      resolve({ fd, port: message.port });
    });
  });
}
