// Package stage: TypeScript consumers type-check against the installed package.
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { ROOT } from "../runtimes.mjs";

/**
 * Type-checks a small consumer as an ES module and as CommonJS with the pinned
 * TypeScript (`module: nodenext`, `@types/node` from the repository): the package's
 * declarations resolve, are usable, and are real types (a wrong option type
 * must be an error, or `@ts-expect-error` fails).
 */
export function typeScriptConsumers({ check, project }) {
  const body = `
const upg: Upgrader = new Upgrader({ pidFile: "app.pid", onEvent: (e: UpgradeEvent) => void e.type });
// @ts-expect-error: upgradeTimeout is a number of ms
new Upgrader({ upgradeTimeout: "60s" });
export function codeOf(error: unknown): ErrorCode | undefined {
  return error instanceof TableflipError ? error.code : undefined;
}
export const drain: HttpDrain | undefined = undefined;
export const runtime: string = upg.runtime;
// The test kit's upgrader is accepted wherever the application takes tableflip's Upgrader.
export function serve(upgrader: Upgrader): Promise<void> {
  return upgrader.ready();
}
export const tested: Promise<void> = serve(createTestKit().upgrader);
`;
  const names = "HttpDrain, TableflipError, Upgrader, type ErrorCode, type UpgradeEvent";
  writeFileSync(
    join(project, "consumer.mts"),
    `import { ${names} } from "tableflip";
import { createTestKit } from "tableflip/testing";
${body}`,
  );
  writeFileSync(
    join(project, "consumer.cts"),
    `import { ${names} } from "tableflip";
import { createTestKit } from "tableflip/testing";
${body}`,
  );
  const ts = createRequire(join(ROOT, "package.json"))("typescript");
  const program = ts.createProgram({
    rootNames: [join(project, "consumer.mts"), join(project, "consumer.cts")],
    options: {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
      types: ["node"],
      typeRoots: [join(ROOT, "node_modules", "@types")],
    },
  });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  const text = ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => project,
    getNewLine: () => "\n",
  });
  check(
    "TypeScript consumers (.mts and .cts) type-check against the package",
    !diagnostics.length,
    text,
  );
  const loaded = program.getSourceFiles().map((f) => f.fileName);
  for (const half of ["esm", "cjs"]) {
    check(
      `TypeScript uses ${half}/mod.d.ts for the ${half === "esm" ? ".mts" : ".cts"} consumer`,
      loaded.some((f) => f.endsWith(`/node_modules/tableflip/${half}/mod.d.ts`)),
    );
  }
}
