// Package stage: `tableflip/testing` from the installed package, by `import`
// and by `require` on every runtime: the test kit listens on a real port,
// plays an upgrade, and never loads a runtime backend.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** The kit's round trip, as one JSON line; `load` is how the module is obtained. */
const body = (load, resolved) =>
  `const { createTestKit } = ${load};\n` +
  `(async () => {\n` +
  `  const kit = createTestKit();\n` +
  `  await kit.upgrader.listen("tcp", ":0");\n` +
  `  await kit.upgrader.ready();\n` +
  `  const child = await kit.upgrade();\n` +
  `  await kit.close();\n` +
  `  console.log(JSON.stringify({ resolved: ${resolved}, backend: kit.upgrader.runtime,\n` +
  `    handedOver: kit.upgrader.exitSignal.aborted, passed: child.manifest.fds.length }));\n` +
  `})();\n`;

/**
 * Writes the two consumers into `project` and runs each on every runtime in
 * `runtimes` (name -> argv prefix that runs a JavaScript file).
 */
export async function testingEntry({ run, check, project, runtimes }) {
  writeFileSync(
    join(project, "check_testing.mjs"),
    body(`await import("tableflip/testing")`, `import.meta.resolve("tableflip/testing")`),
  );
  writeFileSync(
    join(project, "check_testing.cjs"),
    `"use strict";\n` +
      body(`require("tableflip/testing")`, `require.resolve("tableflip/testing")`),
  );
  for (const [name, prefix] of Object.entries(runtimes)) {
    for (
      const [style, file, half] of [["import", "check_testing.mjs", "esm"], [
        "require",
        "check_testing.cjs",
        "cjs",
      ]]
    ) {
      const ran = await run([...prefix, file], { cwd: project, timeout: 60_000 });
      const line = ran.output.split("\n").reverse().find((l) => l.startsWith("{"));
      let report;
      try {
        report = line ? JSON.parse(line) : undefined;
      } catch {
        report = undefined;
      }
      check(
        `${name}: ${style} tableflip/testing: the kit hands over on a real port`,
        ran.code === 0 && report?.backend === "fake" && report.handedOver === true &&
          report.passed === 1 && String(report.resolved).endsWith(`/tableflip/${half}/testing.js`),
        `exit ${ran.code}, ${line}`,
      );
    }
  }
}
