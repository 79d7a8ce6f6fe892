/**
 * The PID file: tells a supervisor such as systemd (`PIDFile=`) which process
 * is the current generation. Written atomically so a reader never sees a
 * half-written or empty file, and never through a symlink at the path.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import type { Backend } from "./backend.ts";
import { PidFileError } from "./errors.ts";

/** Resolves a PID file path: a relative one is taken against `cwd` (the initial working directory). */
export function resolvePidFile(path: string, cwd: string): string {
  return resolve(cwd, path);
}

/** Writes `pid` to `path` through a temp file in the same directory and a rename. */
export async function writePidFile(backend: Backend, path: string, pid: number): Promise<void> {
  const temp = join(
    dirname(path),
    `.${basename(path)}.${pid}.${Math.random().toString(36).slice(2)}.tmp`,
  );
  try {
    await backend.createFile(temp, `${pid}\n`);
    await backend.rename(temp, path);
  } catch (cause) {
    await backend.removeFile(temp).catch(() => {});
    throw new PidFileError(path, { cause });
  }
}
