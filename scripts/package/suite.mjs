// Package stage: the test suite on Node 22 with the package in place of the source.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { ROOT } from "../runtimes.mjs";
import { NODE22 } from "./constants.mjs";

/**
 * Test files not run against the package: the demo has its own checks here,
 * chaos is long, and cross_runtime starts Bun and Deno generations, which
 * the Node preload cannot redirect to the package.
 */
export const SUITE_SKIP = ["chaos", "demo", "cross_runtime"];

/**
 * Runs the uvu suite on Node 22 with scripts/package/use_package.mjs preloaded
 * (through NODE_OPTIONS, so fixtures and every generation they spawn get it
 * too): each import of mod.ts, src/ or runtimes/ loads the installed package's
 * esm/ instead. Adds uvu's counts; SUITE_SKIP names the test files left out.
 */
export async function suiteAgainstPackage({ run, check, count, scratch, project }) {
  const log = join(scratch, "redirects.log");
  writeFileSync(log, "");
  const pattern = `^(?!(${SUITE_SKIP.join("|")})\\.test\\.ts$).*\\.test\\.ts$`;
  const esm = new URL(`file://${join(project, "node_modules", "tableflip", "esm")}/`).href;
  const preload = new URL(`file://${join(ROOT, "scripts", "package", "use_package.mjs")}`).href;
  const bin = join(ROOT, "node_modules", "uvu", "bin.js");
  const { code, output } = await run([NODE22, bin, "test", pattern, "--no-color"], {
    timeout: 180_000,
    env: {
      TABLEFLIP_TEST_RUNTIME: "node22",
      TABLEFLIP_PACKAGE_ESM: esm,
      TABLEFLIP_PACKAGE_LOG: log,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import=${preload}`.trim(),
    },
  });
  const number = (label) => Number(output.match(new RegExp(`${label}:\\s+(\\d+)`))?.[1] ?? NaN);
  const total = number("Total");
  const passedTests = number("Passed");
  const skippedTests = number("Skipped") || 0;
  if (
    !check(
      "node22: the test suite against the package ends with a summary",
      !Number.isNaN(total) && !Number.isNaN(passedTests),
      `exit ${code}`,
    )
  ) {
    return;
  }
  const failedTests = Math.max(total - passedTests - skippedTests, code === 0 ? 0 : 1);
  console.log(`node22 suite against the package: ${passedTests} passed, ${failedTests} failed`);
  count(passedTests, failedTests, skippedTests);
  const lines = readFileSync(log, "utf8").split("\n").filter(Boolean);
  const pids = new Set(lines.filter((l) => /^\d+ mod\.ts$/.test(l)).map((l) => l.split(" ")[0]));
  // Source files outside mod.ts's graph (so not in the package) stay as they
  // are; their own imports of the library still resolve to the package.
  const unmapped = [
    ...new Set(lines.filter((l) => l.includes(" unmapped ")).map((l) => l.split(" ")[2])),
  ];
  if (unmapped.length) {
    console.log(`not in the package, loaded from source: ${unmapped.join(", ")}`);
  }
  check(
    "node22: the suite loaded the package's mod.ts, not the source's, in its processes",
    pids.size >= 2 && !lines.some((l) => l.endsWith("unmapped mod.ts")),
    `mod.ts redirected in ${pids.size} processes`,
  );
}
