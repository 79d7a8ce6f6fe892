#!/usr/bin/env node
// The whole test suite: static checks, then the uvu suite on every pinned
// runtime, then any extra stage in scripts/stages/. Ends with one line
// `total: N passed, N failed, N skipped` and exits non-zero on any failure.
//
//   node scripts/test.mjs                         # everything
//   node scripts/test.mjs --runtime node20,deno   # some runtimes
//   node scripts/test.mjs --no-checks --no-stages --files upgrade
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { commandFor, ROOT, runtime, RUNTIMES } from "./runtimes.mjs";

const { values } = parseArgs({
  options: {
    runtime: { type: "string" },
    files: { type: "string" },
    "no-checks": { type: "boolean" },
    "no-stages": { type: "boolean" },
  },
});

const RUN_TIMEOUT_MS = 8 * 60_000;
const results = [];

/** Runs argv, streaming its output; resolves with { code, output }. */
function run(argv, { timeout = RUN_TIMEOUT_MS, env = {}, cwd = ROOT } = {}) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const onData = (stream) => (chunk) => {
      output += chunk;
      stream.write(chunk);
    };
    child.stdout.on("data", onData(process.stdout));
    child.stderr.on("data", onData(process.stderr));
    const timer = setTimeout(() => {
      process.stderr.write(`\n!! ${argv.join(" ")} timed out after ${timeout} ms\n`);
      child.kill("SIGKILL");
    }, timeout);
    child.on("error", (error) => {
      output += String(error);
      resolve({ code: 127, output });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), output });
    });
  });
}

function record(name, passed, failed, skipped = 0) {
  results.push({ name, passed, failed, skipped });
  console.log(`\n${name}: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
}

async function checks() {
  const deno = runtime("deno").exe;
  const steps = [
    ["deno fmt", [deno, "fmt", "--check"]],
    ["deno lint", [deno, "lint"]],
    ["deno check", [
      deno,
      "check",
      "mod.ts",
      "native.ts",
      "testing.ts",
      "src",
      "runtimes",
      "cli",
      "supervisor",
      "examples",
      "test",
      "scripts",
    ]],
    ["tsc", [
      runtime("node20").exe,
      join(ROOT, "node_modules", "typescript", "bin", "tsc"),
      "-p",
      ".",
    ]],
  ];
  let passed = 0;
  let failed = 0;
  for (const [name, argv] of steps) {
    console.log(`== ${name}`);
    const { code } = await run(argv);
    if (code === 0) passed++;
    else {
      failed++;
      console.log(`!! ${name} failed (exit ${code})`);
    }
  }
  record("checks", passed, failed);
}

/** Runs the uvu suite on one runtime and parses uvu's summary. */
async function uvu(name) {
  console.log(`== uvu on ${name}`);
  const bin = join(ROOT, "node_modules", "uvu", "bin.js");
  // Grouped, so that an alternation (`--files 'a|b'`) still only picks test files, never a fixture.
  const pattern = values.files ? `(?:${values.files}).*\\.test\\.ts$` : "\\.test\\.ts$";
  const { code, output } = await run(commandFor(name, bin, ["test", pattern, "--no-color"]), {
    env: { TABLEFLIP_TEST_RUNTIME: name },
  });
  const number = (label) => Number(output.match(new RegExp(`${label}:\\s+(\\d+)`))?.[1] ?? NaN);
  const total = number("Total");
  const passed = number("Passed");
  const skipped = number("Skipped") || 0;
  if (Number.isNaN(total) || Number.isNaN(passed)) {
    console.log(`!! uvu on ${name} ended (exit ${code}) without a summary`);
    record(name, 0, 1, 0);
    return;
  }
  const failed = Math.max(total - passed - skipped, code === 0 ? 0 : 1);
  record(name, passed, failed, skipped);
}

async function stages() {
  const dir = join(ROOT, "scripts", "stages");
  if (!existsSync(dir)) return;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".mjs")).sort()) {
    const stage = await import(pathToFileURL(join(dir, file)).href);
    console.log(`== stage ${file}`);
    try {
      const { passed, failed, skipped = 0 } = await stage.default({ run });
      record(`stage ${file}`, passed, failed, skipped);
    } catch (error) {
      console.log(`!! stage ${file} threw: ${error?.stack ?? error}`);
      record(`stage ${file}`, 0, 1, 0);
    }
  }
}

const names = values.runtime
  ? values.runtime.split(",").map((n) => runtime(n).name)
  : Object.keys(RUNTIMES);
const started = Date.now();
if (!values["no-checks"]) await checks();
for (const name of names) await uvu(name);
if (!values["no-stages"]) await stages();

const sum = (key) => results.reduce((n, r) => n + r[key], 0);
console.log("summary:");
for (const r of results) {
  console.log(
    `  ${r.name.padEnd(28)} ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`,
  );
}
console.log(`  (${Math.round((Date.now() - started) / 1000)} s)`);
console.log(`total: ${sum("passed")} passed, ${sum("failed")} failed, ${sum("skipped")} skipped`);
process.exit(sum("failed") === 0 ? 0 : 1);
