// Test-runner stage: the npm package, as a user gets it. From a snapshot of
// the tree it builds the package (with Deno and with Node 22, which must
// agree), checks one version in all manifests, dry-runs `deno publish`, `npm
// pack`s it, lints the tarball (publint, attw), installs the tarball offline
// into a scratch project in /tmp, type-checks TypeScript consumers against it,
// `import`s and `require`s it (and `tableflip/testing`) on Node 20/22/24, Bun
// and Deno, bundles a consumer with esbuild, runs the test
// suite on Node 22 with the package in place of the source, and runs the seed
// demo from the installed package on each of the five runtimes: GET /version,
// edit the version constant, SIGHUP the pid in the PID file, see the new
// version answer and the old process exit. Every check counts as a pass or a
// fail. Set TABLEFLIP_KEEP_SCRATCH=1 to keep the scratch directory. See
// docs/DISTRIBUTION.md. This file is the order of the checks; each concern
// lives in a module of scripts/package/.
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
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { ROOT, RUNTIMES } from "../runtimes.mjs";
import { bundled } from "../package/bundled.mjs";
import { cliFromPackage, supervisedDemo } from "../package/cli.mjs";
import { BIN, DENO, NODE22, RUNTIME_NAMES } from "../package/constants.mjs";
import { demo } from "../package/demo.mjs";
import { compareTrees, readJson, walk } from "../package/files.mjs";
import { importAndRequire } from "../package/probes.mjs";
import { suiteAgainstPackage } from "../package/suite.mjs";
import { testingEntry } from "../package/testing_entry.mjs";
import { typeScriptConsumers } from "../package/typescript_consumers.mjs";

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
  "cli",
  "supervisor",
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
  await importAndRequire({ run, check, project, source });

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

  // The tableflip command as installed: npx/bunx/deno run it, and it supervises the demo.
  await cliFromPackage({ run, check, project });
  for (const name of ["node22", "bun", "deno"]) {
    await supervisedDemo({ check, project, name, source: rewritten });
  }
}
