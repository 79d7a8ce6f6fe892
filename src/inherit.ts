/**
 * The child side of the protocol (Go tableflip's `child.go`): what this
 * process inherited, from a manifest (an upgrade or a supervisor started it)
 * or from systemd's socket activation, checked before anything is used, and
 * the link to the parent over the control socket.
 *
 * @module
 */
import type { Backend, ParentLink } from "./backend.ts";
import { TableflipError } from "./errors.ts";
import { FdRegistry } from "./fds.ts";
import { decodeManifest, type Manifest, MANIFEST_ENV } from "./protocol.ts";
import { readSocketActivation } from "./socket_activation.ts";

/** What a process starts with. */
export interface Inheritance {
  /** The manifest, if a parent (previous generation or supervisor) started this process. */
  manifest: Manifest | undefined;
  /** The inherited fds (manifest or socket activation), to claim and to pass on. */
  fds: FdRegistry;
  /** The control socket's link to the parent, with a manifest. */
  parent: ParentLink | undefined;
}

/**
 * Reads and checks the manifest (else socket activation). Throws a
 * `ManifestError`, `InheritedFdError` or `ERR_LISTEN_FDS` error when it is
 * malformed or names fds that are not open or not what they claim; nothing
 * is adopted then. Removes the manifest from the environment, so the
 * application's own children do not take themselves for an upgrade.
 */
export function inherit(backend: Backend): Inheritance {
  const text = backend.getEnv(MANIFEST_ENV);
  const manifest = text === undefined ? undefined : decodeManifest(text);
  const activated = manifest ? undefined : readSocketActivation(backend);
  const fds = new FdRegistry(backend, manifest?.fds ?? activated ?? []);
  if (!manifest) {
    if (activated) fds.verifyInherited();
    return { manifest, fds, parent: undefined };
  }
  fds.verifyInherited();
  if (backend.fdType(manifest.control) !== "socket") {
    throw new TableflipError(
      "ERR_INHERITED_FD",
      `inherited fd ${manifest.control}: the control socket is not an open socket`,
    );
  }
  backend.deleteEnv(MANIFEST_ENV);
  return { manifest, fds, parent: backend.connectParent(manifest.control) };
}
