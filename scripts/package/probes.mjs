// Package stage: `import` and `require` of the installed package on every
// runtime, each held to the same probe (scripts/package/probe.cjs).
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, RUNTIMES } from "../runtimes.mjs";
import { DENO, RUNTIME_NAMES } from "./constants.mjs";
import { errorsAsExpected, parseReport, runtimeOf, sameList } from "./reports.mjs";

/** Runs the probes in `project`; `source` is the snapshot whose mod.ts exports are expected. */
export async function importAndRequire({ run, check, project, source }) {
  for (const file of ["probe.cjs", "check_require.cjs"]) {
    cpSync(join(ROOT, "scripts", "package", file), join(project, file));
  }
  // Written here, not kept in scripts/: `deno check scripts` cannot resolve "tableflip".
  const importers = { "check_import.mjs": "tableflip", "check_npm.mjs": "npm:tableflip" };
  for (const [file, specifier] of Object.entries(importers)) {
    writeFileSync(
      join(project, file),
      `// \`import\`s the installed package and prints the probe's report as one JSON line.\n` +
        `import * as api from ${JSON.stringify(specifier)};\n` +
        `import probe from "./probe.cjs";\n\n` +
        `console.log(JSON.stringify(await probe(api, import.meta.resolve(${
          JSON.stringify(specifier)
        }), "import")));\n`,
    );
  }
  const expected = await sourceExports(run, source);
  check("the source's exports are known (deno, mod.ts)", expected.length > 0);
  const cases = [];
  for (const name of RUNTIME_NAMES) {
    cases.push([name, "import", "check_import.mjs"], [name, "require", "check_require.cjs"]);
  }
  cases.push(["deno", "import (npm: specifier)", "check_npm.mjs"]);
  for (const [name, style, file] of cases) {
    const argv = name === "deno"
      ? [DENO, "run", "-A", "--quiet", file]
      : [RUNTIMES[name].exe, file];
    const probe = await run(argv, { cwd: project, timeout: 60_000 });
    const report = parseReport(probe.output);
    check(`${name}: ${style} works`, probe.code === 0 && report, `exit ${probe.code}`);
    if (!report) continue;
    const half = style === "require" ? "cjs" : "esm";
    const wanted = [
      [`resolves to ${half}/mod.js`, report.resolved.endsWith(`/tableflip/${half}/mod.js`)],
      ["exports what mod.ts exports", sameList(report.exports, expected)],
      [
        `detects ${runtimeOf(name)} and uses its backend by default`,
        report.detected === runtimeOf(name) && report.backend === runtimeOf(name),
      ],
      ["errors are instances of the exported classes", errorsAsExpected(report.errors)],
    ];
    for (const [what, ok] of wanted) {
      check(`${name}: ${style}: ${what}`, ok, JSON.stringify(report));
    }
  }
}

/** The names mod.ts exports, as the source itself (run by Deno) reports them. */
export async function sourceExports(run, source) {
  const url = new URL("mod.ts", `file://${source}/`).href;
  const code = `const m = await import(${JSON.stringify(url)}); ` +
    `console.log("EXPORTS " + JSON.stringify(Object.keys(m).sort()));`;
  const { output } = await run([DENO, "eval", code], { timeout: 60_000 });
  const line = output.split("\n").find((l) => l.startsWith("EXPORTS "));
  return line ? JSON.parse(line.slice(8)) : [];
}
