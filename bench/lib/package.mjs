// The npm package, built once per benchmark run into a temp directory, so
// that the servers a benchmark starts load tableflip as its users do: the
// built JavaScript, not the TypeScript source. (Node 22 strips the types of
// every .ts file it loads: importing mod.ts costs a process about 0.45 s of
// CPU against 0.1 s for the built esm/mod.js, and a benchmark that starts
// workers under load pays that on every start.)
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { ROOT, RUNTIMES } from "../../scripts/runtimes.mjs";

/**
 * Builds the package (scripts/build_npm.ts on Node 22, about 7 s) and
 * returns where its entry points are: `mod` (esm/mod.js) and `cli`
 * (esm/cli/bin.js). The directory is removed when the process exits.
 * @returns {{ dir: string, mod: string, cli: string }}
 */
export function buildPackage() {
  const dir = mkdtempSync(join(tmpdir(), "tableflip-bench-pkg-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  execFileSync(RUNTIMES.node22.exe, [join(ROOT, "scripts", "build_npm.ts"), "--out", dir], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
  });
  return { dir, mod: join(dir, "esm", "mod.js"), cli: join(dir, "esm", "cli", "bin.js") };
}
