/**
 * The listening sockets a supervisor holds for the service's whole life:
 * those systemd passed (socket activation) and those it bound for
 * `--listen`. An address given both ways is taken from systemd.
 *
 * @module
 */
import { TableflipError } from "../src/errors.ts";
import { describeCause } from "../src/errors.ts";
import { readSocketActivation } from "../src/socket_activation.ts";
import { formatAddress, type Network, parseAddress } from "../src/address.ts";
import type { SupervisorBackend } from "./backend.ts";
import type { ListenRequest } from "./listen_spec.ts";

/** One held listening socket. */
export interface HeldListener {
  network: Network;
  /** Canonical address; a TCP port 0 is replaced by the port it got. */
  address: string;
  /** systemd's `FileDescriptorName=`, if any. */
  name?: string;
  fd: number;
  /** `systemd` or `--listen`. */
  source: "systemd" | "listen";
}

/**
 * Takes the sockets systemd passed, then binds every `--listen` address not
 * among them. Throws a typed error naming the address that failed.
 */
export async function holdListeners(
  backend: SupervisorBackend,
  requests: ListenRequest[],
): Promise<HeldListener[]> {
  const held: HeldListener[] = [];
  for (const entry of readSocketActivation(backend) ?? []) {
    if (entry.kind !== "listener") {
      throw new TableflipError(
        "ERR_LISTEN_FDS",
        `socket activation: fd ${entry.fd} (${entry.name}) is not a listening TCP or unix ` +
          `socket; tableflip run holds only listening stream sockets (check ListenStream= in the .socket unit)`,
      );
    }
    held.push({ ...entry, source: "systemd" });
  }
  for (const request of requests) {
    if (held.some((h) => sameAddress(h, request))) continue;
    let bound;
    try {
      bound = await backend.holdListener(request.spec);
    } catch (cause) {
      throw new TableflipError(
        "ERR_LISTEN",
        `cannot listen on ${request.network} ${request.address}${describeCause(cause)}`,
        { cause },
      );
    }
    const address = request.spec.network === "unix"
      ? request.address
      : formatAddress({ ...request.spec, port: bound.port ?? request.spec.port });
    held.push({ network: request.network, address, fd: bound.fd, source: "listen" });
  }
  return held;
}

function sameAddress(held: HeldListener, request: ListenRequest): boolean {
  if (held.network === "unix" || request.spec.network === "unix") {
    return held.network === request.network && held.address === request.address;
  }
  const spec = parseAddress(held.network, held.address);
  return spec.network !== "unix" && spec.port === request.spec.port &&
    (spec.host === request.spec.host || request.spec.host === "");
}
