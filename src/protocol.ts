/**
 * The parent/child wire protocol (see docs/PROTOCOL.md): a JSON manifest in
 * one environment variable, inherited fds, and a control socket.
 *
 * @module
 */
import { ManifestError } from "./errors.ts";
import { type Network, NETWORKS } from "./address.ts";

/** Environment variable that carries the manifest from parent to child. */
export const MANIFEST_ENV = "TABLEFLIP_MANIFEST";

/** Version of the protocol this build speaks. */
export const PROTOCOL_VERSION = 1;

/** The line a child writes on the control socket once it is ready. */
export const READY_LINE = "ready\n";

/** Largest manifest accepted, in bytes of JSON text. */
export const MAX_MANIFEST_LENGTH = 64 * 1024;

/** A listening socket passed to the child. */
export interface ListenerEntry {
  /** fd number in the child. */
  fd: number;
  kind: "listener";
  network: Network;
  /** The address it is registered under (a TCP port 0 is stored as the real port). */
  address: string;
}

/** Any other fd passed under a name. */
export interface FileEntry {
  /** fd number in the child. */
  fd: number;
  kind: "file";
  name: string;
}

/** One fd the child inherits. */
export type FdEntry = ListenerEntry | FileEntry;

/** An entry without its fd number: what it is, not where it sits. */
export type EntryShape = Omit<ListenerEntry, "fd"> | Omit<FileEntry, "fd">;

/** What a parent tells its child. */
export interface Manifest {
  /** Protocol version, {@link PROTOCOL_VERSION}. */
  v: number;
  /** Pid of the parent that spawned this child. */
  parentPid: number;
  /** 0 for the first process, parent's + 1 for each upgrade. */
  generation: number;
  /** fd of the control socket: the child writes {@link READY_LINE}; EOF means the parent is gone. */
  control: number;
  /** The inherited fds. */
  fds: FdEntry[];
}

/** Serialises a manifest for the environment. */
export function encodeManifest(manifest: Manifest): string {
  return JSON.stringify(manifest);
}

/** The key an entry is registered under: same kind, network and address, or same name. */
export function entryKey(entry: EntryShape): string {
  return entry.kind === "listener"
    ? `listener\0${entry.network}\0${entry.address}`
    : `file\0${entry.name}`;
}

/**
 * Parses and validates a manifest. Throws a {@link ManifestError} naming the
 * first thing that is wrong; never returns a partial manifest.
 */
export function decodeManifest(text: string): Manifest {
  if (text.length > MAX_MANIFEST_LENGTH) {
    throw new ManifestError(`longer than ${MAX_MANIFEST_LENGTH} bytes (${text.length})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new ManifestError(`not valid JSON (${(cause as Error).message})`, { cause });
  }
  if (!isRecord(raw)) throw new ManifestError("expected a JSON object");
  if (raw.v !== PROTOCOL_VERSION) {
    throw new ManifestError(
      `unsupported protocol version ${
        JSON.stringify(raw.v)
      } (this build speaks ${PROTOCOL_VERSION})`,
    );
  }
  const parentPid = integer(raw.parentPid, "parentPid", 1);
  const generation = integer(raw.generation, "generation", 1);
  const control = integer(raw.control, "control", 3);
  if (!Array.isArray(raw.fds)) throw new ManifestError("fds: expected an array");
  const seenFds = new Set<number>([control]);
  const seenKeys = new Set<string>();
  const fds = raw.fds.map((item, i) => {
    const entry = decodeEntry(item, `fds[${i}]`);
    if (seenFds.has(entry.fd)) {
      throw new ManifestError(`fds[${i}].fd: fd ${entry.fd} is used twice`);
    }
    const key = entryKey(entry);
    if (seenKeys.has(key)) {
      throw new ManifestError(`fds[${i}]: ${describeEntry(entry)} is listed twice`);
    }
    seenFds.add(entry.fd);
    seenKeys.add(key);
    return entry;
  });
  return { v: PROTOCOL_VERSION, parentPid, generation, control, fds };
}

/** A human-readable name for an entry, for errors and events. */
export function describeEntry(entry: EntryShape): string {
  return entry.kind === "listener"
    ? `${entry.network} listener ${entry.address}`
    : `file ${JSON.stringify(entry.name)}`;
}

function decodeEntry(item: unknown, where: string): FdEntry {
  if (!isRecord(item)) throw new ManifestError(`${where}: expected an object`);
  const fd = integer(item.fd, `${where}.fd`, 3);
  if (item.kind === "listener") {
    if (!(NETWORKS as readonly unknown[]).includes(item.network)) {
      throw new ManifestError(
        `${where}.network: ${JSON.stringify(item.network)} is not one of ${NETWORKS.join(", ")}`,
      );
    }
    return {
      fd,
      kind: "listener",
      network: item.network as Network,
      address: nonEmpty(item.address, `${where}.address`),
    };
  }
  if (item.kind === "file") {
    return { fd, kind: "file", name: nonEmpty(item.name, `${where}.name`) };
  }
  throw new ManifestError(
    `${where}.kind: ${JSON.stringify(item.kind)} is not "listener" or "file"`,
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function integer(value: unknown, where: string, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new ManifestError(
      `${where}: expected an integer >= ${min}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function nonEmpty(value: unknown, where: string): string {
  if (typeof value !== "string" || value === "") {
    throw new ManifestError(`${where}: expected a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}
