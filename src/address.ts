/**
 * Go-style network addresses: `tcp` addresses are `host:port`, `:port` or
 * `[v6]:port`; `unix` addresses are socket paths.
 *
 * @module
 */
import { TableflipError } from "./errors.ts";

/** Networks that {@link Upgrader.listen} understands, as in Go's `net.Listen`. */
export type Network = "tcp" | "tcp4" | "tcp6" | "unix";

/** The networks, for validation and docs. */
export const NETWORKS: readonly Network[] = ["tcp", "tcp4", "tcp6", "unix"];

/** A parsed address, ready for a backend to bind. */
export type ListenSpec =
  | { network: "tcp" | "tcp4" | "tcp6"; host: string; port: number }
  | { network: "unix"; path: string };

/** Throws unless `network` is one of {@link NETWORKS}. */
export function checkNetwork(network: string): Network {
  if ((NETWORKS as readonly string[]).includes(network)) return network as Network;
  throw new TableflipError(
    "ERR_INVALID_ARGUMENT",
    `unsupported network ${JSON.stringify(network)}: expected one of ${NETWORKS.join(", ")}`,
  );
}

/** Parses a Go-style address for `network`. Throws a typed error naming what is wrong. */
export function parseAddress(network: Network, address: string): ListenSpec {
  if (typeof address !== "string" || address === "") {
    throw invalid(network, address, "the address is empty");
  }
  if (network === "unix") return { network, path: address };
  const colon = address.lastIndexOf(":");
  if (colon < 0) throw invalid(network, address, "missing port (expected host:port)");
  let host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  else if (host.includes(":")) {
    throw invalid(network, address, "an IPv6 host must be in brackets, e.g. [::1]:8080");
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw invalid(network, address, `port ${JSON.stringify(portText)} is not 0-65535`);
  }
  return { network, host: host.toLowerCase(), port: Number(portText) };
}

/** Formats a spec back into its canonical Go-style address string. */
export function formatAddress(spec: ListenSpec): string {
  if (spec.network === "unix") return spec.path;
  const host = spec.host.includes(":") ? `[${spec.host}]` : spec.host;
  return `${host}:${spec.port}`;
}

function invalid(network: string, address: unknown, why: string): TableflipError {
  return new TableflipError(
    "ERR_INVALID_ARGUMENT",
    `invalid ${network} address ${JSON.stringify(address)}: ${why}`,
  );
}
