// Layers: the runtime-agnostic core (src/) never imports a runtime backend
// (runtimes/); the entry points inject it. And `sideEffects: false` is
// honest: a bundler that drops unused modules keeps what each entry needs.
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ROOT, RUNTIME, tempDir, WAIT_LIMIT } from "./_helpers.ts";
// @ts-types="../scripts/runtimes.d.mts"
import { commandFor } from "../scripts/runtimes.mjs";

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name));
}

test("no file in src/ imports from runtimes/ (or from an entry point)", () => {
  const offending: string[] = [];
  const files = sources(join(ROOT, "src"));
  assert.ok(files.length > 10);
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
      if (!spec.startsWith(".")) continue;
      const target = relative(ROOT, resolve(dirname(file), spec));
      if (!target.startsWith("src/")) offending.push(`${relative(ROOT, file)} -> ${spec}`);
    }
  }
  assert.equal(offending, []);
});

/** Runs argv in `cwd`; resolves with exit code and output. */
function run(argv: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout!.on("data", (d) => output += d);
    child.stderr!.on("data", (d) => output += d);
    const timer = setTimeout(() => child.kill("SIGKILL"), WAIT_LIMIT);
    child.once("close", (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

let project: string | undefined;
/** A scratch project with the source installed as a `sideEffects: false` package named tableflip. */
function scratchProject(): string {
  if (project) return project;
  const dir = tempDir("tableflip-bundle-");
  const pkg = join(dir, "node_modules", "tableflip");
  mkdirSync(pkg, { recursive: true });
  for (const path of ["mod.ts", "native.ts", "testing.ts", "src", "runtimes"]) {
    cpSync(join(ROOT, path), join(pkg, path), { recursive: true });
  }
  writeFileSync(
    join(pkg, "package.json"),
    JSON.stringify({
      name: "tableflip",
      type: "module",
      sideEffects: false,
      exports: { ".": "./mod.ts", "./native": "./native.ts", "./testing": "./testing.ts" },
    }),
  );
  writeFileSync(join(dir, "package.json"), `{ "type": "module" }\n`);
  return project = dir;
}

/** Bundles `source` with esbuild (pinned in node_modules) and runs the bundle on the suite runtime. */
async function bundleAndRun(
  name: string,
  source: string,
): Promise<{ bundle: string; output: string }> {
  const dir = scratchProject();
  writeFileSync(join(dir, `${name}.mjs`), source);
  const esbuild = join(ROOT, "node_modules", ".bin", "esbuild");
  const built = await run([
    esbuild,
    `${name}.mjs`,
    "--bundle",
    "--platform=node",
    "--format=esm",
    `--outfile=${name}.bundle.mjs`,
    "--log-level=warning",
  ], dir);
  assert.is(built.code, 0, built.output);
  const ran = await run(commandFor(RUNTIME, join(dir, `${name}.bundle.mjs`)), dir);
  assert.is(ran.code, 0, ran.output);
  return { bundle: readFileSync(join(dir, `${name}.bundle.mjs`), "utf8"), output: ran.output };
}

const runtimeName = RUNTIME.startsWith("node") ? "node" : RUNTIME;

test("a bundled app's new Upgrader() still gets this runtime's backend", async () => {
  const { output } = await bundleAndRun(
    "app",
    `import { Upgrader } from "tableflip";\n` +
      `const upg = new Upgrader();\n` +
      `console.log(JSON.stringify({ backend: upg.runtime }));\n` +
      `upg.stop();\n`,
  );
  assert.equal(JSON.parse(output.trim().split("\n").at(-1)!), { backend: runtimeName });
});

test("a bundled test using tableflip/testing works and carries no runtime backend", async () => {
  const { bundle, output } = await bundleAndRun(
    "kit",
    `import { createTestKit } from "tableflip/testing";\n` +
      `const kit = createTestKit();\n` +
      `await kit.upgrader.listen("tcp", ":0");\n` +
      `await kit.upgrader.ready();\n` +
      `await kit.upgrade();\n` +
      `await kit.close();\n` +
      `console.log(JSON.stringify({ backend: kit.upgrader.runtime, handedOver: kit.upgrader.exitSignal.aborted }));\n`,
  );
  assert.equal(JSON.parse(output.trim().split("\n").at(-1)!), {
    backend: "fake",
    handedOver: true,
  });
  for (const name of ["NodeBackend", "BunBackend", "DenoBackend", "dlopen"]) {
    assert.not.ok(bundle.includes(name), `the kit's bundle contains ${name}`);
  }
});

test("without an entry point's default, the core Upgrader says what to do", async () => {
  const { Upgrader } = await import("../src/upgrader.ts");
  const { setDefaultBackend } = await import("../src/backend.ts");
  setDefaultBackend(undefined);
  assert.throws(
    () => new Upgrader(),
    (e: { code: string; message: string }) =>
      e.code === "ERR_UNSUPPORTED" && /pass the `backend` option/.test(e.message),
  );
});

test.run();
