// The runtimes tableflip is tested on, all pinned in package-lock.json, and
// how each one runs a TypeScript file. Plain JavaScript so every runtime and
// a bare `node` can import it.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** Repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const modules = join(ROOT, "node_modules");
const tsxLoader = pathToFileURL(join(modules, "tsx", "dist", "loader.mjs")).href;

/** name -> { exe, tsArgs }: `[exe, ...tsArgs, file.ts, ...args]` runs a TS file. */
export const RUNTIMES = {
  node20: { exe: join(modules, "node20", "bin", "node"), tsArgs: ["--import", tsxLoader] },
  node22: { exe: join(modules, "node22", "bin", "node"), tsArgs: [] },
  node24: { exe: join(modules, "node24", "bin", "node"), tsArgs: [] },
  bun: { exe: join(modules, ".bin", "bun"), tsArgs: [] },
  deno: { exe: join(modules, ".bin", "deno"), tsArgs: ["run", "-A", "--quiet"] },
};

/** Short aliases accepted on command lines. */
const ALIASES = {};

/** `node`: the Node.js that runs this script (the user's own), with tsx for TypeScript. */
const SYSTEM_NODE = { exe: process.execPath, tsArgs: ["--import", tsxLoader] };

/** Looks a runtime up by name or alias; throws a clear error for unknown names. */
export function runtime(name) {
  const key = ALIASES[name] ?? name;
  const found = key === "node" ? SYSTEM_NODE : RUNTIMES[key];
  if (!found) {
    throw new Error(
      `unknown runtime ${JSON.stringify(name)}: expected one of ${
        ["node", ...Object.keys(RUNTIMES), ...Object.keys(ALIASES)].join(", ")
      }`,
    );
  }
  if (!existsSync(found.exe)) {
    throw new Error(`runtime ${key} is not installed at ${found.exe}: run npm ci`);
  }
  return { name: key, ...found };
}

/** The argv that runs `file` (a .ts or .js file) with `args` on runtime `name`. */
export function commandFor(name, file, args = []) {
  const rt = runtime(name);
  return [rt.exe, ...rt.tsArgs, file, ...args];
}
