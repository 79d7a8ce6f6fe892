// Test-runner stage: the npm package, as a user gets it. From a snapshot of
// the tree it builds the package (with Deno and with Node 22, which must
// agree), checks one version in all manifests, dry-runs `deno publish`, `npm
// pack`s it, lints the tarball (publint, attw), installs the tarball offline
// into a scratch project in /tmp, type-checks TypeScript consumers against it,
// `import`s and `require`s it on Node 20/22/24, Bun and Deno, runs the test
// suite on Node 22 with the package in place of the source, and runs the seed
// demo from the installed package on each of the five runtimes: GET /version,
// edit the version constant, SIGHUP the pid in the PID file, see the new
// version answer and the old process exit. Every check counts as a pass or a
// fail. Set TABLEFLIP_KEEP_SCRATCH=1 to keep the scratch directory. See
// docs/DISTRIBUTION.md.
import { spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { ROOT, RUNTIMES } from "../runtimes.mjs";
import { freePort } from "../free_port.mjs";
import { testingEntry } from "../package/testing_entry.mjs";

const RUNTIME_NAMES = ["node20", "node22", "node24", "bun", "deno"];
const DENO = RUNTIMES.deno.exe;
const NODE22 = RUNTIMES.node22.exe;
const BIN = join(ROOT, "node_modules", ".bin");
/**
 * Test files not run against the package: the demo has its own checks here,
 * chaos is long, and cross_runtime starts Bun and Deno generations, which
 * the Node preload cannot redirect to the package.
 */
const SUITE_SKIP = ["chaos", "demo", "cross_runtime"];
/** Limit for one wait (server up, new version visible, old process gone). */
const WAIT_MS = 30_000;

export default async function packageStage({ run }) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const check = (name, ok, detail = "") => {
    if (ok) passed++;
    else failed++;
    console.log(`${ok ? "ok" : "not ok"} - ${name}${!ok && detail ? `: ${detail}` : ""}`);
    return ok;
  };
  const scratch = mkdtempSync(join(tmpdir(), "tableflip-package-"));
  console.log(`scratch directory: ${scratch}`);
  try {
    const count = (p, f, s) => {
      passed += p;
      failed += f;
      skipped += s;
    };
    await stage({ run, check, count, scratch });
  } finally {
    if (process.env.TABLEFLIP_KEEP_SCRATCH) console.log(`kept ${scratch}`);
    else rmSync(scratch, { recursive: true, force: true });
  }
  return { passed, failed, skipped };
}

/** What the build and `deno publish` read; copied so a stage run sees one state of the tree. */
const SNAPSHOT = [
  "mod.ts",
  "native.ts",
  "testing.ts",
  "src",
  "runtimes",
  "docs",
  "scripts/build_npm.ts",
  "package.json",
  "deno.json",
  "tsconfig.json",
  "tsconfig.build.json",
  "README.md",
  "LICENSE",
  "CHANGELOG.md",
];

async function stage({ run, check, count, scratch }) {
  // The working tree may change under a running stage (others edit it), so
  // build from a snapshot; node_modules is linked, not copied.
  const source = join(scratch, "source");
  for (const path of SNAPSHOT) {
    if (existsSync(join(ROOT, path))) {
      cpSync(join(ROOT, path), join(source, path), { recursive: true });
    }
  }
  symlinkSync(join(ROOT, "node_modules"), join(source, "node_modules"));
  // As found, before the build copies package.json's version into it.
  const denoVersion = readJson(join(source, "deno.json")).version;

  // Build: with Deno (the package that is tested), and with Node 22 to compare.
  const out = join(scratch, "npm");
  const built = await run([DENO, "run", "-A", "scripts/build_npm.ts", "--out", out], {
    cwd: source,
    timeout: 120_000,
  });
  if (!check("build_npm.ts builds the package on Deno", built.code === 0, `exit ${built.code}`)) {
    return;
  }
  const outNode = join(scratch, "npm-node22");
  const builtNode = await run([NODE22, "scripts/build_npm.ts", "--out", outNode], {
    cwd: source,
    timeout: 120_000,
  });
  check(
    "build_npm.ts builds the package on Node 22",
    builtNode.code === 0,
    `exit ${builtNode.code}`,
  );
  if (builtNode.code === 0) {
    const differ = compareTrees(out, outNode);
    check("the Deno and Node 22 builds are identical", differ.length === 0, differ.join(", "));
  }

  // One version: the build copies it into both manifests, and the committed
  // deno.json must already agree (run the build after bumping it).
  const version = readJson(join(source, "package.json")).version;
  const manifest = readJson(join(out, "package.json"));
  check(
    "package.json, deno.json and npm/package.json carry one version",
    manifest.version === version && denoVersion === version,
    `package.json ${version}, deno.json ${denoVersion}, npm ${manifest.version}`,
  );
  const deps = ["dependencies", "peerDependencies", "optionalDependencies"]
    .filter((key) => Object.keys(manifest[key] ?? {}).length > 0);
  check("the npm package declares no dependencies", deps.length === 0, deps.join(", "));
  check(
    "the npm package is marked sideEffects: false",
    manifest.sideEffects === false,
    String(manifest.sideEffects),
  );

  // Declarations: every relative specifier ends in .js (the build checks this
  // too; this is the independent look at what ended up on disk).
  const badSpecifiers = [];
  for (const file of walk(out).filter((f) => f.endsWith(".d.ts"))) {
    const text = readFileSync(file, "utf8");
    for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']*)["']/g)) {
      if (!spec.endsWith(".js")) badSpecifiers.push(`${file.slice(out.length + 1)}: ${spec}`);
    }
  }
  check(
    ".d.ts files import relative paths ending in .js",
    badSpecifiers.length === 0,
    badSpecifiers.join("; "),
  );

  // TypeScript: the compiler the build used is the one the pinned Deno bundles.
  const tsVersion = createRequire(join(ROOT, "package.json"))("typescript").version;
  const denoV = await run([DENO, "--version"], { timeout: 30_000 });
  const denoTs = denoV.output.match(/typescript\s+(\S+)/)?.[1];
  check(
    `node_modules/typescript (${tsVersion}) is the one Deno bundles`,
    denoTs === tsVersion,
    `deno bundles ${denoTs}`,
  );

  // JSR: the dry run must pass offline.
  const dry = await run([DENO, "publish", "--dry-run", "--allow-dirty"], {
    cwd: source,
    timeout: 120_000,
  });
  check(
    "deno publish --dry-run passes",
    dry.code === 0 && /Dry run complete/.test(dry.output),
    `exit ${dry.code}`,
  );

  // Pack, then lint the tarball itself.
  const packed = await run(["npm", "pack", "--pack-destination", scratch], {
    cwd: out,
    timeout: 60_000,
  });
  const tarballs = readdirSync(scratch).filter((f) => f.endsWith(".tgz"));
  const ok = packed.code === 0 && tarballs.length === 1;
  if (!check("npm pack makes one tarball", ok, `exit ${packed.code}, [${tarballs}]`)) return;
  const tarball = join(scratch, tarballs[0]);
  const listing = await run(["tar", "-tzf", tarball], { timeout: 30_000 });
  const entries = listing.output.split("\n").filter(Boolean).map((e) =>
    e.replace(/^package\//, "")
  );
  const required = ["package.json", "LICENSE", "CHANGELOG.md", "cjs/package.json"];
  for (const half of ["esm", "cjs"]) required.push(`${half}/mod.js`, `${half}/mod.d.ts`);
  if (existsSync(join(source, "README.md"))) required.push("README.md");
  const missing = required.filter((f) => !entries.includes(f));
  const stray = entries.filter((f) =>
    !required.includes(f) && !/^(esm|cjs)\/.+\.(js|d\.ts)$/.test(f)
  );
  check(
    "the tarball holds the package files and nothing else",
    missing.length === 0 && stray.length === 0,
    `missing [${missing.join(", ")}], unexpected [${stray.join(", ")}]`,
  );
  const publint = await run([join(BIN, "publint"), "run", "--strict", tarball], {
    timeout: 60_000,
  });
  check("publint --strict: no errors or warnings", publint.code === 0, `exit ${publint.code}`);
  const attw = await run([join(BIN, "attw"), "--no-color", "--no-emoji", tarball], {
    timeout: 120_000,
  });
  check("attw: no problems", attw.code === 0, `exit ${attw.code}`);

  // A scratch project that installs the tarball, offline.
  const project = join(scratch, "project");
  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "tableflip-scratch", private: true, type: "module" }, null, 2) + "\n",
  );
  const install = await run([
    "npm",
    "install",
    "--offline",
    "--no-audit",
    "--no-fund",
    "--ignore-scripts",
    tarball,
  ], { cwd: project, timeout: 120_000 });
  if (!check("npm install --offline <tarball> in a scratch project", install.code === 0)) return;
  const installed = readdirSync(join(project, "node_modules")).filter((n) => !n.startsWith("."));
  check(
    "installing it brings no other package",
    installed.length === 1 && installed[0] === "tableflip",
    installed.join(", "),
  );

  // TypeScript consumers, ESM (.mts) and CommonJS (.cts), type-check against it.
  typeScriptConsumers({ check, project });

  // import and require on every runtime, held to the same probe.
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

  // The test kit entry point, by import and require, on every runtime.
  const jsRunners = Object.fromEntries(
    RUNTIME_NAMES.map((name) => [
      name,
      name === "deno" ? [DENO, "run", "-A", "--quiet"] : [RUNTIMES[name].exe],
    ]),
  );
  await testingEntry({ run, check, project, runtimes: jsRunners });

  // A bundler that honours `sideEffects: false` keeps a working default backend.
  await bundled({ run, check, count, project });

  // The test suite, on Node 22, with the library source swapped for the package.
  await suiteAgainstPackage({ run, check, count, scratch, project });

  // The seed demo, from the installed package, on every runtime.
  const demoSource = readFileSync(join(ROOT, "examples", "demo.ts"), "utf8");
  const rewritten = demoSource.replace(/from "\.\.\/mod\.ts"/, `from "tableflip"`);
  check(
    "the demo copy imports the installed package",
    rewritten !== demoSource && !/mod\.ts/.test(rewritten.replace(/^\s*(\/\/|\*).*$/gm, "")),
  );
  for (const name of RUNTIME_NAMES) {
    await demo({ check, project, name, source: rewritten });
  }
}

/**
 * Runs the demo from `project` on runtime `name`: serves v0.0.1, then after
 * the version constant is edited and the PID file's pid gets SIGHUP, serves
 * v0.0.2 from a new process while the old one exits.
 */
async function demo({ check, project, name, source }) {
  const dir = join(project, `demo-${name}`);
  mkdirSync(dir);
  // Node 20 cannot run TypeScript: it runs a JavaScript copy emitted by the
  // pinned TypeScript (types erased, nothing else changed); the others run
  // the .ts file as is.
  const file = join(dir, name === "node20" ? "demo.mjs" : "demo.ts");
  writeFileSync(file, name === "node20" ? toJavaScript(source) : source);
  const pidFile = join(dir, "demo.pid");
  const port = await freePort();
  const argv = name === "deno" ? [DENO, "run", "-A", "--quiet", file] : [RUNTIMES[name].exe, file];
  const first = spawn(argv[0], argv.slice(1), {
    cwd: dir,
    env: { ...process.env, DEMO_ADDR: `127.0.0.1:${port}`, DEMO_PID_FILE: pidFile },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  first.stdout.on("data", (chunk) => log += chunk);
  first.stderr.on("data", (chunk) => log += chunk);
  const firstExit = new Promise((resolve) =>
    first.once("exit", (code, signal) => resolve({ code, signal }))
  );
  const pids = new Set([first.pid]);
  // Failure details: the demo's own complaints first, else its last lines.
  const tail = () => {
    const lines = log.trim().split("\n");
    const bad = lines.filter((l) => /fail|error|can't|cannot/i.test(l));
    return `; output: ${(bad.length ? bad : lines).slice(-4).join(" | ")}`;
  };
  const upgradeFailed = () => /Upgrade failed/.test(log);
  try {
    const v1 = await until(() => getVersion(port), (b) => b === "v0.0.1");
    if (
      !check(`${name} demo: serves v0.0.1 from the installed package`, v1.ok, `${v1.last}${tail()}`)
    ) {
      return;
    }
    const before = await until(() => readPid(pidFile), (pid) => pid === first.pid);
    if (!check(`${name} demo: its PID file names it`, before.ok, `${before.last}`)) return;

    const edited = source.replace(/const version = "v0\.0\.1";/, `const version = "v0.0.2";`);
    const current = readFileSync(file, "utf8");
    const next = name === "node20" ? toJavaScript(edited) : edited;
    if (!check(`${name} demo: version constant edited`, edited !== source && next !== current)) {
      return;
    }
    writeFileSync(file, next);
    process.kill(before.value, "SIGHUP");

    // Stop waiting early once the demo has logged that the upgrade failed.
    const v2 = await until(() => getVersion(port), (b) => b === "v0.0.2", WAIT_MS, upgradeFailed);
    check(`${name} demo: answers v0.0.2 after SIGHUP`, v2.ok, `${v2.last}${tail()}`);
    const after = await until(
      () => readPid(pidFile),
      (pid) => pid && pid !== first.pid,
      v2.ok ? WAIT_MS : 1_000,
    );
    if (after.value) pids.add(after.value);
    check(
      `${name} demo: the PID file names the new process, which is alive`,
      after.ok && alive(after.value),
      `${after.last}`,
    );
    const exitLimit = v2.ok ? WAIT_MS : 1_000;
    const exited = await Promise.race([firstExit, sleep(exitLimit).then(() => undefined)]);
    check(
      `${name} demo: the old process exited cleanly`,
      exited && exited.code === 0,
      `${exited ? JSON.stringify(exited) : `still running after ${exitLimit} ms`}${tail()}`,
    );
  } finally {
    for (const pid of pids) await stop(pid);
  }
}

/**
 * Type-checks a small consumer as an ES module and as CommonJS with the pinned
 * TypeScript (`module: nodenext`, `@types/node` from the repository): the package's
 * declarations resolve, are usable, and are real types (a wrong option type
 * must be an error, or `@ts-expect-error` fails).
 */
function typeScriptConsumers({ check, project }) {
  const body = `
const upg: Upgrader = new Upgrader({ pidFile: "app.pid", onEvent: (e: UpgradeEvent) => void e.type });
// @ts-expect-error: upgradeTimeout is a number of ms
new Upgrader({ upgradeTimeout: "60s" });
export function codeOf(error: unknown): ErrorCode | undefined {
  return error instanceof TableflipError ? error.code : undefined;
}
export const drain: HttpDrain | undefined = undefined;
export const runtime: string = upg.runtime;
`;
  const names = "HttpDrain, TableflipError, Upgrader, type ErrorCode, type UpgradeEvent";
  writeFileSync(
    join(project, "consumer.mts"),
    `import { ${names} } from "tableflip";
${body}`,
  );
  writeFileSync(
    join(project, "consumer.cts"),
    `import { ${names} } from "tableflip";
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

/**
 * Runs the uvu suite on Node 22 with scripts/package/use_package.mjs preloaded
 * (through NODE_OPTIONS, so fixtures and every generation they spawn get it
 * too): each import of mod.ts, src/ or runtimes/ loads the installed package's
 * esm/ instead. Adds uvu's counts; SUITE_SKIP names the test files left out.
 */
async function suiteAgainstPackage({ run, check, count, scratch, project }) {
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

/** Strips the demo's TypeScript with the pinned compiler (for Node 20). */
function toJavaScript(source) {
  const ts = createRequire(join(ROOT, "package.json"))("typescript");
  return ts.transpileModule(source, {
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      verbatimModuleSyntax: true,
    },
  }).outputText;
}

/** The names mod.ts exports, as the source itself (run by Deno) reports them. */
async function sourceExports(run, source) {
  const url = new URL("mod.ts", `file://${source}/`).href;
  const code = `const m = await import(${JSON.stringify(url)}); ` +
    `console.log("EXPORTS " + JSON.stringify(Object.keys(m).sort()));`;
  const { output } = await run([DENO, "eval", code], { timeout: 60_000 });
  const line = output.split("\n").find((l) => l.startsWith("EXPORTS "));
  return line ? JSON.parse(line.slice(8)) : [];
}

/**
 * Bundles a two-line consumer with esbuild (pinned in package-lock.json as a
 * dependency of tsx; skipped if absent), which drops modules that a
 * `sideEffects: false` package does not use, and runs the bundle on Node 22
 * and Bun: `new Upgrader()` must still find the runtime's backend.
 */
async function bundled({ run, check, count, project }) {
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

/** The probe's three errors carry their codes and pass `instanceof` (see probe.cjs). */
function errorsAsExpected(errors) {
  const want = {
    badNetwork: "ERR_INVALID_ARGUMENT",
    second: "ERR_ALREADY_CREATED",
    stopped: "ERR_STOPPED",
  };
  return Object.entries(want).every(([key, code]) =>
    errors[key]?.instanceOf && errors[key].code === code
  );
}

function runtimeOf(name) {
  return name.startsWith("node") ? "node" : name;
}

function parseReport(output) {
  for (const line of output.split("\n").reverse()) {
    if (!line.startsWith("{")) continue;
    try {
      return JSON.parse(line);
    } catch {
      // not the report
    }
  }
  return undefined;
}

function sameList(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Relative paths that differ (by presence or content) between two trees. */
function compareTrees(a, b) {
  const list = (dir) => walk(dir).map((f) => f.slice(dir.length + 1)).sort();
  const left = list(a);
  const right = list(b);
  const all = [...new Set([...left, ...right])];
  return all.filter((f) => {
    if (!left.includes(f) || !right.includes(f)) return true;
    return !readFileSync(join(a, f)).equals(readFileSync(join(b, f)));
  });
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]
  );
}

function readJson(path) {
  return JSON.parse(readFileSync(path, "utf8"));
}

function readPid(path) {
  try {
    const text = readFileSync(path, "utf8");
    return /^\d+\n?$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the pid is gone. */
async function stop(pid) {
  if (!alive(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const gone = await until(() => !alive(pid), (x) => x, 5_000);
  if (!gone.ok) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
    await until(() => !alive(pid), (x) => x, 5_000);
  }
}

/** Polls `get` every 100 ms until `accept(value)`, `limit` ms or `giveUp()`; never throws. */
async function until(get, accept, limit = WAIT_MS, giveUp = () => false) {
  const deadline = Date.now() + limit;
  let last;
  for (;;) {
    let value;
    try {
      value = await get();
    } catch (error) {
      last = String(error?.message ?? error);
    }
    if (value !== undefined) last = value;
    if (value !== undefined && accept(value)) return { ok: true, value, last };
    if (Date.now() >= deadline || giveUp()) return { ok: false, value, last };
    await sleep(100);
  }
}

/** GET /version on a fresh connection; resolves with the trimmed body. */
function getVersion(port) {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: "127.0.0.1", port, path: "/version", agent: false, timeout: 2_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => body += chunk);
        res.on(
          "end",
          () => resolve(res.statusCode === 200 ? body.trim() : `HTTP ${res.statusCode}`),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
