// Package stage: an esbuild bundle of a consumer keeps the default backend.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RUNTIMES } from "../runtimes.mjs";
import { BIN } from "./constants.mjs";
import { parseReport, runtimeOf } from "./reports.mjs";

/**
 * Bundles a two-line consumer with esbuild (pinned in package-lock.json as a
 * dependency of tsx; skipped if absent), which drops modules that a
 * `sideEffects: false` package does not use, and runs the bundle on Node 22
 * and Bun: `new Upgrader()` must still find the runtime's backend.
 */
export async function bundled({ run, check, count, project }) {
  const esbuild = join(BIN, "esbuild");
  if (!existsSync(esbuild)) {
    console.log("skipped: no esbuild in node_modules/.bin");
    count(0, 0, 2);
    return;
  }
  writeFileSync(
    join(project, "bundle_entry.mjs"),
    `import { detectRuntime, Upgrader } from "tableflip";\n` +
      `const upg = new Upgrader();\n` +
      `console.log(JSON.stringify({ detected: detectRuntime(), backend: upg.runtime }));\n` +
      `upg.stop();\n`,
  );
  const bundle = await run([
    esbuild,
    "bundle_entry.mjs",
    "--bundle",
    "--platform=node",
    "--format=esm",
    "--outfile=bundle.mjs",
    "--log-level=warning",
  ], { cwd: project, timeout: 60_000 });
  for (const name of ["node22", "bun"]) {
    const ran = bundle.code === 0
      ? await run([RUNTIMES[name].exe, "bundle.mjs"], { cwd: project, timeout: 60_000 })
      : { code: bundle.code, output: "" };
    const report = parseReport(ran.output);
    check(
      `${name}: an esbuild bundle of the package picks the ${runtimeOf(name)} backend`,
      ran.code === 0 && report?.detected === runtimeOf(name) &&
        report?.backend === runtimeOf(name),
      `exit ${ran.code}, ${JSON.stringify(report)}`,
    );
  }
}
