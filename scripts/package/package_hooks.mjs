// Module resolution hooks registered by use_package.mjs: a library source file
// of this repository resolves to the same module in the installed package.
// A source file the package does not contain stays as it is and is logged as
// "unmapped", so that the caller can tell.
import { appendFileSync, existsSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";

let root = "";
let esm = "";
let log;

export function initialize(data) {
  ({ root, esm, log } = data);
}

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  if (!result.url.startsWith(root) || !result.url.endsWith(".ts")) return result;
  const path = result.url.slice(root.length);
  if (path !== "mod.ts" && !path.startsWith("src/") && !path.startsWith("runtimes/")) {
    return result;
  }
  const target = esm + path.replace(/\.ts$/, ".js");
  if (!existsSync(fileURLToPath(target))) {
    if (log) appendFileSync(log, `${process.pid} unmapped ${path}\n`);
    return result;
  }
  if (log) appendFileSync(log, `${process.pid} ${path}\n`);
  return { url: target, format: "module", shortCircuit: true };
}
