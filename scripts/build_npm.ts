#!/usr/bin/env -S deno run -A
/**
 * Builds the npm package from the Deno-first source: the job dnt does, done
 * with the pinned TypeScript compiler (node_modules/typescript) and nothing
 * else.
 *
 *   deno run -A scripts/build_npm.ts           # Deno
 *   node scripts/build_npm.ts                  # Node 22.18+ (built-in type stripping)
 *   node --import tsx scripts/build_npm.ts     # any Node >= 20 (what `npm run build` does)
 *   ... --out /tmp/somewhere                   # build elsewhere (default: npm/)
 *
 * Output (see docs/DISTRIBUTION.md):
 *   esm/     ES modules and .d.ts            (`import`, and the `default` fallback)
 *   cjs/     CommonJS and .d.ts, with a package.json saying so (`require`)
 *   package.json, README.md, LICENSE, CHANGELOG.md
 *
 * The version lives only in the root package.json; the build copies it into
 * deno.json (rewriting that file only if it differs) and into the npm
 * package.json. The build fails on any type error, on a relative import in the
 * output that does not end in `.js` or points outside the output, and on any
 * import that is not a `node:` builtin (the package has no dependencies).
 *
 * @module
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type * as TS from "typescript";

/** Repository root. */
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** The npm package's description (the root package.json describes the source workspace). */
const DESCRIPTION = "Graceful, zero-downtime process upgrades for Node, Bun and Deno";

/** Files copied next to the package.json; LICENSE and CHANGELOG.md are required. */
const DOCS = [
  { name: "README.md", required: false },
  { name: "LICENSE", required: true },
  { name: "CHANGELOG.md", required: true },
];

type Format = "esm" | "cjs";

interface PackageJson {
  name: string;
  version: string;
  license?: string;
  engines?: Record<string, string>;
  devDependencies?: Record<string, string>;
  [key: string]: unknown;
}

class BuildError extends Error {}

/** Builds the package into `outDir`; returns a short summary. */
function build(outDir: string): { version: string; files: number; denoJsonUpdated: boolean } {
  const root = readJson<PackageJson>(join(ROOT, "package.json"));
  const version = root.version;
  if (!/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.test(version ?? "")) {
    throw new BuildError(`package.json version ${JSON.stringify(version)} is not semver`);
  }
  const denoJsonUpdated = syncDenoVersion(version);

  const ts = loadTypeScript(root);
  const out = resolve(outDir);
  if (out === ROOT || ROOT.startsWith(out + sep) || out === sep) {
    throw new BuildError(`refusing to clear ${out}: it contains the repository`);
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  let emitted: string[];
  try {
    emitted = [
      ...compile(ts, "esm", join(out, "esm")),
      ...compile(ts, "cjs", join(out, "cjs")),
    ];
    writeJson(join(out, "cjs", "package.json"), { type: "commonjs" });
    verifyImports(ts, out, emitted);
  } catch (error) {
    // Leave nothing that could be packed by mistake.
    rmSync(out, { recursive: true, force: true });
    throw error;
  }

  const files = ["esm/", "cjs/"];
  for (const doc of DOCS) {
    const from = join(ROOT, doc.name);
    if (!existsSync(from)) {
      if (doc.required) throw new BuildError(`${doc.name} is missing from the repository`);
      console.warn(`warning: ${doc.name} is missing; the package will have none`);
      continue;
    }
    copyFileSync(from, join(out, doc.name));
    files.push(doc.name);
  }
  writeJson(join(out, "package.json"), npmManifest(root, files));
  return { version, files: emitted.length, denoJsonUpdated };
}

/** The published package.json. */
function npmManifest(root: PackageJson, files: string[]): Record<string, unknown> {
  const esm = { types: "./esm/mod.d.ts", default: "./esm/mod.js" };
  const cjs = { types: "./cjs/mod.d.ts", default: "./cjs/mod.js" };
  const manifest: Record<string, unknown> = {
    name: root.name,
    version: root.version,
    description: DESCRIPTION,
    license: root.license ?? "BSD-3-Clause",
    type: "module",
    // For resolvers that predate `exports` (TypeScript's node10, old bundlers).
    main: "./cjs/mod.js",
    types: "./cjs/mod.d.ts",
    // Each branch lists its own `types` first: the CommonJS branch needs CommonJS
    // declarations (cjs/ has "type": "commonjs"), or TypeScript would treat the
    // required file as ESM. No `bun` or `deno` condition: they would point at
    // the same files, since the runtime is detected when the code runs.
    exports: {
      ".": { import: esm, require: cjs, default: esm },
      // Native servers for Bun and Deno: a separate entry so Node never loads FFI code.
      "./native": {
        import: { types: "./esm/native.d.ts", default: "./esm/native.js" },
        require: { types: "./cjs/native.d.ts", default: "./cjs/native.js" },
        default: { types: "./esm/native.d.ts", default: "./esm/native.js" },
      },
      // The test kit and the fake backend: loads no runtime backend.
      "./testing": {
        import: { types: "./esm/testing.d.ts", default: "./esm/testing.js" },
        require: { types: "./cjs/testing.d.ts", default: "./cjs/testing.js" },
        default: { types: "./esm/testing.d.ts", default: "./esm/testing.js" },
      },
      "./package.json": "./package.json",
    },
    // TypeScript's node10 resolution ignores `exports`; this maps the subpath for it.
    typesVersions: {
      "*": { native: ["./cjs/native.d.ts"], testing: ["./cjs/testing.d.ts"] },
    },
    // The supervisor CLI (`npx tableflip run ...`); no module of the library imports it.
    bin: { tableflip: "./esm/cli/bin.js" },
    sideEffects: false,
    engines: root.engines ?? { node: ">=20" },
    files,
  };
  for (const key of ["keywords", "author", "homepage", "repository", "bugs", "funding"]) {
    if (root[key] !== undefined) manifest[key] = root[key];
  }
  return manifest;
}

/** Copies `version` into deno.json, touching only its `"version"` line. */
function syncDenoVersion(version: string): boolean {
  const path = join(ROOT, "deno.json");
  const text = readFileSync(path, "utf8");
  const pattern = /("version"\s*:\s*)"([^"]*)"/;
  const match = text.match(pattern);
  if (!match) throw new BuildError(`deno.json has no "version" field`);
  if (match[2] === version) return false;
  writeFileSync(path, text.replace(pattern, `$1"${version}"`));
  console.log(`deno.json: version ${match[2]} -> ${version}`);
  return true;
}

/** The pinned TypeScript from node_modules, checked against package.json's pin. */
function loadTypeScript(root: PackageJson): typeof TS {
  const require = createRequire(join(ROOT, "package.json"));
  const ts: typeof TS = require("typescript");
  const pinned = root.devDependencies?.typescript;
  if (pinned && ts.version !== pinned) {
    throw new BuildError(`node_modules has TypeScript ${ts.version}, package.json pins ${pinned}`);
  }
  return ts;
}

/** Compiles mod.ts and everything it imports into `outDir` as `format`. */
function compile(ts: typeof TS, format: Format, outDir: string): string[] {
  const configPath = join(ROOT, "tsconfig.build.json");
  const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new BuildError(formatDiagnostics(ts, [d]));
    },
  });
  if (!parsed) throw new BuildError(`cannot read ${configPath}`);
  if (parsed.errors.length) throw new BuildError(formatDiagnostics(ts, parsed.errors));
  // Errors are checked below, after emit: the CommonJS half tolerates one kind.
  const options: TS.CompilerOptions = { ...parsed.options, outDir, noEmitOnError: false };
  if (format === "cjs") {
    options.module = ts.ModuleKind.CommonJS;
    options.moduleResolution = ts.ModuleResolutionKind.Bundler;
    // verbatimModuleSyntax forbids `import`/`export` in files emitted as CommonJS.
    options.verbatimModuleSyntax = false;
  }
  const host = ts.createCompilerHost(options);
  const written: string[] = [];
  host.writeFile = (fileName, text) => {
    const body = fileName.endsWith(".d.ts") ? rewriteDeclarationSpecifiers(text) : text;
    mkdirSync(dirname(fileName), { recursive: true });
    writeFileSync(fileName, body);
    written.push(resolve(fileName));
  };
  const program = ts.createProgram({ rootNames: parsed.fileNames, options, host });
  const transformers: TS.CustomTransformers = {};
  // `import.meta.url` has a CommonJS equivalent, which the transformer puts in
  // its place; drop tsc's complaint about it (TS1343), and only about it.
  const tolerated = (d: TS.Diagnostic) => format === "cjs" && d.code === 1343 && isImportMetaUrl(d);
  if (format === "cjs") transformers.before = [importMetaUrlToCommonJs(ts)];
  const result = program.emit(undefined, undefined, undefined, undefined, transformers);
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics]
    .filter((d) => !tolerated(d));
  if (diagnostics.length || result.emitSkipped) {
    throw new BuildError(
      `tsc (${format}) failed:\n${formatDiagnostics(ts, diagnostics)}`,
    );
  }
  return written;
}

/** Whether a diagnostic points at `import.meta` followed by `.url`. */
function isImportMetaUrl(d: TS.Diagnostic): boolean {
  const text = d.file?.text;
  if (!text || d.start === undefined) return false;
  const end = d.start + (d.length ?? 0);
  return text.slice(d.start, end) === "import.meta" && /^\s*\.\s*url\b/.test(text.slice(end));
}

/**
 * Replaces `import.meta.url` with `require("node:url").pathToFileURL(__filename).href`
 * in the CommonJS half, so that idioms like `createRequire(import.meta.url)` work
 * there too. Any other `import.meta` property still fails the build.
 */
function importMetaUrlToCommonJs(ts: typeof TS): TS.TransformerFactory<TS.SourceFile> {
  return (context) => (file) => {
    const f = context.factory;
    const visit = (node: TS.Node): TS.Node => {
      if (
        ts.isPropertyAccessExpression(node) && ts.isMetaProperty(node.expression) &&
        node.expression.keywordToken === ts.SyntaxKind.ImportKeyword && node.name.text === "url"
      ) {
        const url = f.createCallExpression(f.createIdentifier("require"), undefined, [
          f.createStringLiteral("node:url"),
        ]);
        const call = f.createCallExpression(
          f.createPropertyAccessExpression(url, "pathToFileURL"),
          undefined,
          [f.createIdentifier("__filename")],
        );
        return f.createPropertyAccessExpression(call, "href");
      }
      return ts.visitEachChild(node, visit, context);
    };
    return ts.visitEachChild(file, visit, context);
  };
}

/**
 * tsc's `rewriteRelativeImportExtensions` rewrites `.ts` specifiers in the
 * JavaScript it emits but leaves them in declaration files; make those `.js`
 * too, as a consumer's TypeScript resolves them against the emitted files.
 */
function rewriteDeclarationSpecifiers(text: string): string {
  return text.replace(
    /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}\/[^"'\n]*?)\.([mc]?)ts\2/g,
    (whole, lead: string, quote: string, path: string, kind: string) =>
      path.endsWith(".d") ? whole : `${lead}${quote}${path}.${kind}js${quote}`,
  );
}

/**
 * Parses every emitted file's imports (static, dynamic, `require`, `import()`
 * types) and fails unless each relative one ends in `.js`/`.mjs`/`.cjs` and
 * names a file in the same half (esm/ or cjs/) of the output, and each other
 * one is a `node:` builtin.
 */
function verifyImports(ts: typeof TS, out: string, files: string[]): void {
  const problems: string[] = [];
  for (const file of files) {
    if (!/\.(d\.ts|js)$/.test(file)) continue;
    const text = readFileSync(file, "utf8");
    const { importedFiles } = ts.preProcessFile(text, true, true);
    for (const { fileName: spec } of importedFiles) {
      const where = relative(out, file);
      if (spec.startsWith("./") || spec.startsWith("../")) {
        const target = resolve(dirname(file), spec);
        if (!/\.[mc]?js$/.test(spec)) problems.push(`${where}: ${spec} does not end in .js`);
        else if (half(out, target) !== half(out, file)) {
          // Each half must be self-contained, or one consumer could load two copies.
          problems.push(`${where}: ${spec} leaves ${half(out, file)}/`);
        } else if (!existsSync(target)) problems.push(`${where}: ${spec} does not exist`);
      } else if (!spec.startsWith("node:")) {
        problems.push(`${where}: imports ${spec}, but the package has no dependencies`);
      }
    }
  }
  if (problems.length) {
    throw new BuildError(`bad imports in the output:\n  ${problems.join("\n  ")}`);
  }
}

/** `esm` or `cjs`: which half of the output `path` is in (`..` if outside). */
function half(out: string, path: string): string {
  const rel = relative(out, path);
  return rel.startsWith("..") || isAbsolute(rel) ? ".." : rel.split(sep)[0];
}

function formatDiagnostics(ts: typeof TS, diagnostics: readonly TS.Diagnostic[]): string {
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => ROOT,
    getNewLine: () => "\n",
  });
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, JSON.stringify(value, null, 2) + "\n");
}

main();

function main(): void {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { out: { type: "string", default: join(ROOT, "npm") } },
  });
  const started = Date.now();
  try {
    const { version, files, denoJsonUpdated } = build(values.out);
    console.log(
      `built tableflip ${version} into ${resolve(values.out)}: ${files} files, ` +
        `${Date.now() - started} ms${denoJsonUpdated ? " (deno.json version updated)" : ""}`,
    );
  } catch (error) {
    console.error(error instanceof BuildError ? `build_npm: ${error.message}` : error);
    process.exit(1);
  }
}
