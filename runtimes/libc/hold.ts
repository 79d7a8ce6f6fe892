/**
 * Holding listening sockets through libc (Bun and Deno): `socket`, `bind`
 * and `listen` with no runtime polling the fd, so nothing here accepts; the
 * processes the fd is passed to do.
 *
 * @module
 */
import type { ListenSpec } from "../../src/address.ts";
import { TableflipError } from "../../src/errors.ts";
import type { HeldSocket } from "../node_hold.ts";
import { LISTEN_BACKLOG } from "../listen_backlog.ts";
import type { Libc } from "./libc.ts";
import type { BindAddress } from "./sockaddr.ts";

/** Binds and listens on `spec` without accepting. Host names other than `localhost` are refused. */
export function holdWithLibc(libc: Libc, spec: ListenSpec): HeldSocket {
  if (spec.network === "unix") {
    const fd = libc.listenOn({ family: "unix", path: spec.path }, LISTEN_BACKLOG);
    return { fd, port: undefined };
  }
  const address = bindAddress(spec);
  const fd = libc.listenOn(address, LISTEN_BACKLOG, spec.network === "tcp6");
  return { fd, port: libc.socketPort(fd) };
}

function bindAddress(spec: Exclude<ListenSpec, { network: "unix" }>): BindAddress {
  const host = spec.host === "localhost" ? "127.0.0.1" : spec.host;
  if (host === "") {
    return spec.network === "tcp4"
      ? { family: "IPv4", address: "0.0.0.0", port: spec.port }
      : { family: "IPv6", address: "::", port: spec.port };
  }
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return { family: "IPv4", address: host, port: spec.port };
  if (host.includes(":")) return { family: "IPv6", address: host, port: spec.port };
  throw new TableflipError(
    "ERR_INVALID_ARGUMENT",
    `cannot hold a listener on host ${JSON.stringify(spec.host)}: use an IP address ` +
      `(e.g. 127.0.0.1, [::1], or an empty host for every address)`,
  );
}
