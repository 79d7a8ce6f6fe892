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

/**
 * Lines on the control socket besides {@link READY_LINE}, without their
 * `\n`. A parent that is a plain previous generation writes none of them; a
 * supervisor (`tableflip run`) uses them to steer the generations it runs.
 */
export const LINES = {
  /** Child to supervisor: please start an upgrade (the child got SIGHUP or called `upgrade()`). */
  upgrade: "upgrade",
  /** Supervisor to child: a newer generation is ready; settle `exit`, drain and exit. */
  drain: "drain",
  /** Supervisor to child, prefix: the upgrade it asked for failed; JSON `{code, message}` follows. */
  failed: "failed ",
} as const;

/** Longest control line accepted; longer input is dropped. */
export const MAX_LINE_LENGTH = 4096;

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
  /** A name given by whoever bound it (systemd's `FileDescriptorName=`), if any. */
  name?: string;
  /**
   * More fds of the same listening socket, in the child, to accept on
   * besides `fd` (see {@link ACCEPT_COPIES}); a child that does not use them
   * closes them.
   */
  copies?: number[];
}

/**
 * How many more fds of each listening socket a Node parent passes: Node
 * (libuv) accepts one connection each time the event loop polls a listening
 * fd, so a burst of reconnecting clients waits for loop turns that get
 * slower as the new process takes them in; with 1 + this many fds of the
 * same socket, each turn accepts up to that many.
 */
export const ACCEPT_COPIES = 7;

/** Any other fd passed under a name. */
export interface FileEntry {
  /** fd number in the child. */
  fd: number;
  kind: "file";
  name: string;
}

/** One fd the child inherits. */
export type FdEntry = ListenerEntry | FileEntry;

/** The fds of a listener's accept copies (none for a file, or a listener passed without copies). */
export function copiesOf(entry: FdEntry): number[] {
  return entry.kind === "listener" ? entry.copies ?? [] : [];
}

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
  /**
   * Set when the parent is a supervisor (`tableflip run`) rather than the
   * previous generation: it keeps the sockets and steers this process with
   * {@link LINES} on the control socket.
   */
  supervisor?: SupervisorInfo;
}

/** What a supervisor tells each generation it starts. */
export interface SupervisorInfo {
  /** This process's worker slot, 0-based (0 when the supervisor runs one process per generation). */
  worker: number;
  /** How many workers each generation has. */
  workers: number;
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
    if (entry.kind === "listener") {
      for (const [k, copy] of (entry.copies ?? []).entries()) {
        if (seenFds.has(copy)) {
          throw new ManifestError(`fds[${i}].copies[${k}]: fd ${copy} is used twice`);
        }
        seenFds.add(copy);
      }
    }
    return entry;
  });
  const manifest: Manifest = { v: PROTOCOL_VERSION, parentPid, generation, control, fds };
  if (raw.supervisor !== undefined) manifest.supervisor = decodeSupervisor(raw.supervisor);
  return manifest;
}

function decodeSupervisor(raw: unknown): SupervisorInfo {
  if (!isRecord(raw)) throw new ManifestError("supervisor: expected an object");
  const workers = integer(raw.workers, "supervisor.workers", 1);
  const worker = integer(raw.worker, "supervisor.worker", 0);
  if (worker >= workers) {
    throw new ManifestError(`supervisor.worker: ${worker} is not below workers (${workers})`);
  }
  return { worker, workers };
}

/**
 * Splits a byte stream into lines. Lines longer than
 * {@link MAX_LINE_LENGTH} are dropped rather than buffered without bound.
 */
export class LineSplitter {
  #pending = "";

  /** Feeds a chunk; returns the complete lines it finished, without `\n`. */
  push(chunk: string): string[] {
    const parts = (this.#pending + chunk).split("\n");
    this.#pending = parts.pop() ?? "";
    if (this.#pending.length > MAX_LINE_LENGTH) this.#pending = "";
    return parts.filter((line) => line.length <= MAX_LINE_LENGTH);
  }
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
    const entry: ListenerEntry = {
      fd,
      kind: "listener",
      network: item.network as Network,
      address: nonEmpty(item.address, `${where}.address`),
    };
    if (item.name !== undefined) entry.name = nonEmpty(item.name, `${where}.name`);
    if (item.copies !== undefined) {
      if (!Array.isArray(item.copies) || item.copies.length > ACCEPT_COPIES) {
        throw new ManifestError(
          `${where}.copies: expected an array of at most ${ACCEPT_COPIES} fds, got ${
            JSON.stringify(item.copies)
          }`,
        );
      }
      entry.copies = item.copies.map((copy, k) => integer(copy, `${where}.copies[${k}]`, 3));
    }
    return entry;
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
