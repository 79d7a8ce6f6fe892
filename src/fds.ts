/**
 * The fd registry: what this process inherited, what it uses, and what it
 * will pass on. Listeners are keyed by (network, address) and files by name,
 * as in Go's tableflip.
 *
 * @module
 */
import type { Backend, Listener } from "./backend.ts";
import {
  copiesOf,
  describeEntry,
  entryKey,
  type EntryShape,
  type FdEntry,
  type ListenerEntry,
} from "./protocol.ts";
import { type ListenSpec, parseAddress } from "./address.ts";
import { InheritedFdError, TableflipError } from "./errors.ts";

/** A registered fd that will be passed to the next generation. */
export type Passed =
  | { kind: "listener"; network: ListenerEntry["network"]; address: string; listener: Listener }
  | { kind: "file"; name: string; fd: number };

/** Inherited and used fds of one process. */
export class FdRegistry {
  readonly #backend: Backend;
  /** Inherited entries not claimed yet, by key. */
  readonly #inherited = new Map<string, FdEntry>();
  /** Entries this process uses and will pass on, by key. */
  readonly #used = new Map<string, Passed>();

  constructor(backend: Backend, inherited: FdEntry[]) {
    this.#backend = backend;
    for (const entry of inherited) this.#inherited.set(entryKey(entry), entry);
  }

  /**
   * Checks that every inherited fd is open and is what the manifest claims.
   * Throws an {@link InheritedFdError} for the first that is not.
   */
  verifyInherited(): void {
    for (const entry of this.#inherited.values()) {
      const type = this.#backend.fdType(entry.fd);
      if (type === "closed") {
        throw new InheritedFdError(entry.fd, `${describeEntry(entry)} is not open`);
      }
      if (entry.kind === "listener" && type !== "socket") {
        throw new InheritedFdError(entry.fd, `${describeEntry(entry)} is not a socket`);
      }
      for (const copy of copiesOf(entry)) {
        if (this.#backend.fdType(copy) !== "socket") {
          throw new InheritedFdError(
            copy,
            `the copy of ${describeEntry(entry)} is not an open socket`,
          );
        }
      }
    }
  }

  /**
   * Claims the inherited listener for `spec`: the one registered under the
   * same network and address; else, for TCP, the first one on the same port
   * (any port for port 0) whose host is the same or where either side is a
   * wildcard (`:8080` finds `127.0.0.1:8080`, `0.0.0.0:8080` or
   * `[::]:8080`), and whose network is compatible (`tcp` finds `tcp4` and
   * `tcp6`). The loose match lets an application adopt what a supervisor or
   * systemd bound, whatever spelling each used.
   */
  claimListener(spec: ListenSpec, address: string): ListenerEntry | undefined {
    let entry = this.#inherited.get(entryKey({ kind: "listener", network: spec.network, address }));
    if (!entry && spec.network !== "unix") {
      entry = [...this.#inherited.values()].find((e) =>
        e.kind === "listener" && e.network !== "unix" && looselyMatches(spec, e)
      );
    }
    if (!entry || entry.kind !== "listener") return undefined;
    this.#inherited.delete(entryKey(entry));
    return entry;
  }

  /** Claims the inherited file `name`, returning its fd. */
  claimFile(name: string): number | undefined {
    const key = entryKey({ kind: "file", name });
    const entry = this.#inherited.get(key);
    if (!entry) return undefined;
    this.#inherited.delete(key);
    return entry.fd;
  }

  /** Whether something is already registered under this listener key. */
  usedListener(network: ListenerEntry["network"], address: string): Listener | undefined {
    const used = this.#used.get(entryKey({ kind: "listener", network, address }));
    return used?.kind === "listener" ? used.listener : undefined;
  }

  /** Registers a listener to pass on. */
  addListener(network: ListenerEntry["network"], address: string, listener: Listener): void {
    this.#add({ kind: "listener", network, address, listener });
  }

  /** Registers a file fd to pass on. */
  addFile(name: string, fd: number): void {
    this.#add({ kind: "file", name, fd });
  }

  #add(passed: Passed): void {
    const key = entryKey(passed);
    if (this.#used.has(key)) {
      throw new TableflipError(
        "ERR_INVALID_ARGUMENT",
        `${describeEntry(passed)} is already registered`,
      );
    }
    this.#used.set(key, passed);
  }

  /**
   * What to pass to the next generation: every registered entry that still
   * has an open fd. Listeners closed by the application are dropped.
   */
  passable(): { entry: EntryShape; fd: number }[] {
    const out: { entry: EntryShape; fd: number }[] = [];
    for (const [key, passed] of this.#used) {
      const fd = passed.kind === "listener" ? this.#backend.fdOf(passed.listener) : passed.fd;
      if (fd === undefined) {
        this.#used.delete(key);
        continue;
      }
      const entry: EntryShape = passed.kind === "listener"
        ? { kind: "listener", network: passed.network, address: passed.address }
        : { kind: "file", name: passed.name };
      out.push({ entry, fd });
    }
    return out;
  }

  /** The inherited listeners nobody claimed yet (for error messages). */
  unclaimedListeners(): ListenerEntry[] {
    return [...this.#inherited.values()].filter((e): e is ListenerEntry => e.kind === "listener");
  }

  /** Closes every inherited fd nobody claimed (and its copies); returns the entries closed. */
  closeUnclaimed(): FdEntry[] {
    const closed = [...this.#inherited.values()];
    for (const entry of closed) {
      this.#backend.closeFd(entry.fd);
      for (const copy of copiesOf(entry)) {
        this.#backend.closeFd(copy);
      }
    }
    this.#inherited.clear();
    return closed;
  }
}

const WILDCARDS = new Set(["", "0.0.0.0", "::"]);

/** Whether an inherited TCP listener can serve a request for `spec` (see `claimListener`). */
function looselyMatches(spec: ListenSpec & { host: string; port: number }, e: ListenerEntry) {
  let parsed: ListenSpec;
  try {
    parsed = parseAddress(e.network, e.address);
  } catch {
    return false;
  }
  if (parsed.network === "unix") return false;
  if (spec.network !== "tcp" && e.network !== "tcp" && spec.network !== e.network) return false;
  if (spec.port !== 0 && spec.port !== parsed.port) return false;
  return spec.host === parsed.host || WILDCARDS.has(spec.host) || WILDCARDS.has(parsed.host);
}
