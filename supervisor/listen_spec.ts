/**
 * `--listen` values: `tcp:[host]:port`, `tcp4:...`, `tcp6:...` (the port
 * alone, `tcp:8080`, means every address) and `unix:/path`.
 *
 * @module
 */
import {
  checkNetwork,
  formatAddress,
  type ListenSpec,
  type Network,
  parseAddress,
} from "../src/address.ts";
import { TableflipError } from "../src/errors.ts";

/** A listener the supervisor is asked to hold. */
export interface ListenRequest {
  network: Network;
  /** Canonical Go-style address (`127.0.0.1:8080`, `:8080`, `[::1]:8080`, `/run/app.sock`). */
  address: string;
  spec: ListenSpec;
}

/** Parses one `--listen` value; throws `ERR_USAGE` naming what is wrong. */
export function parseListen(value: string): ListenRequest {
  const colon = value.indexOf(":");
  if (colon <= 0) throw usage(value, "expected NETWORK:ADDRESS, e.g. tcp:127.0.0.1:8080");
  let network: Network;
  try {
    network = checkNetwork(value.slice(0, colon));
  } catch {
    throw usage(
      value,
      `unknown network ${JSON.stringify(value.slice(0, colon))} (tcp, tcp4, tcp6, unix)`,
    );
  }
  let rest = value.slice(colon + 1);
  if (network !== "unix" && /^\d+$/.test(rest)) rest = `:${rest}`;
  let spec: ListenSpec;
  try {
    spec = parseAddress(network, rest);
  } catch (error) {
    throw usage(value, (error as Error).message);
  }
  return { network, address: formatAddress(spec), spec };
}

function usage(value: string, why: string): TableflipError {
  return new TableflipError("ERR_USAGE", `--listen ${JSON.stringify(value)}: ${why}`);
}
