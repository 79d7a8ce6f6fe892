/**
 * An in-memory file system for the fake backend: just what the PID file
 * needs (exclusive create, rename over a file or a symlink, remove), with the
 * errors a real one gives (`ENOENT`, `EEXIST`, `ENOTDIR`).
 *
 * @module
 */
import { dirname } from "node:path";

/** What sits at a path. */
export type FakeEntry = { type: "file"; data: string } | { type: "symlink"; target: string };

/** An `Error` with a Node-style `code`. */
function fsError(code: string, syscall: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
}

/** Files, symlinks and directories, by absolute path. */
export class FakeFiles {
  readonly #entries = new Map<string, FakeEntry>();
  readonly #dirs = new Set<string>(["/"]);
  readonly #anyDir: boolean;

  /**
   * @param options.anyDirectory every directory exists (for the test kit:
   *   an application's PID file path works whatever it is); default false
   */
  constructor(options: { anyDirectory?: boolean } = {}) {
    this.#anyDir = options.anyDirectory ?? false;
  }

  /** Creates directory `path` and its parents. */
  mkdir(path: string): void {
    for (let dir = path; !this.#dirs.has(dir); dir = dirname(dir)) this.#dirs.add(dir);
  }

  /** Content of the file at `path`, or `undefined` (a symlink is not followed). */
  read(path: string): string | undefined {
    const entry = this.#entries.get(path);
    return entry?.type === "file" ? entry.data : undefined;
  }

  /** What is at `path`, if anything. */
  entry(path: string): FakeEntry | undefined {
    return this.#entries.get(path);
  }

  /** Writes a regular file (creating or replacing it). */
  write(path: string, data: string): void {
    this.#checkDir(path, "open");
    this.#entries.set(path, { type: "file", data });
  }

  /** Makes `path` a symlink to `target`. */
  symlink(path: string, target: string): void {
    this.#checkDir(path, "symlink");
    this.#entries.set(path, { type: "symlink", target });
  }

  /** Paths of the entries directly in `dir`, sorted. */
  list(dir: string): string[] {
    return [...this.#entries.keys()].filter((p) => dirname(p) === dir).sort();
  }

  /** Creates a file; fails with `EEXIST` if anything (even a dangling symlink) is there. */
  create(path: string, data: string): void {
    this.#checkDir(path, "open");
    if (this.#entries.has(path)) throw fsError("EEXIST", "open", path);
    this.#entries.set(path, { type: "file", data });
  }

  /** Moves `from` to `to`, replacing what is at `to` (a symlink itself, not its target). */
  rename(from: string, to: string): void {
    const entry = this.#entries.get(from);
    if (!entry) throw fsError("ENOENT", "rename", from);
    this.#checkDir(to, "rename");
    this.#entries.delete(from);
    this.#entries.set(to, entry);
  }

  /** Removes `path`; a missing one is not an error. */
  remove(path: string): void {
    this.#entries.delete(path);
  }

  #checkDir(path: string, syscall: string): void {
    const dir = dirname(path);
    if (this.#entries.has(dir)) throw fsError("ENOTDIR", syscall, path);
    if (!this.#anyDir && !this.#dirs.has(dir)) throw fsError("ENOENT", syscall, path);
  }
}
