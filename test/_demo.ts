// The seed demo as the end-to-end tests run it: copied into a temp dir
// ("rebuilt" at a version), started on a free port, upgraded by SIGHUP.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as assert from "uvu/assert";
// @ts-types="../scripts/runtimes.d.mts"
import { commandFor } from "../scripts/runtimes.mjs";
import { Fixture, freePort, ROOT, RUNTIME, tempDir, waitForExit, waitForFile } from "./_helpers.ts";
import { Load, type LoadOptions } from "./_load.ts";

/** Copies the demo into `dir` at `version`, importing the library by absolute URL. */
export function buildDemo(dir: string, version: string): string {
  const url = (file: string) => JSON.stringify(pathToFileURL(join(ROOT, file)).href);
  const source = readFileSync(join(ROOT, "examples", "demo.ts"), "utf8")
    .replace(`"../mod.ts"`, url("mod.ts"))
    .replace(`"../native.ts"`, url("native.ts"))
    .replace(/const version = "[^"]*";/, `const version = "${version}";`);
  const file = join(dir, "demo.ts");
  writeFileSync(join(dir, "package.json"), `{ "type": "module" }\n`);
  writeFileSync(file, source);
  return file;
}

/**
 * Starts the demo at v0.0.1 under `load`, rebuilds and SIGHUPs it to v0.0.2,
 * v0.0.3 and v0.0.4, and asserts that once each old generation is gone only
 * the new version answers, and that no request failed. `check` sees the
 * demo's output and the last generation's pid before it is killed.
 */
export async function upgradeDemoThrice(
  options: {
    env?: Record<string, string>;
    load: LoadOptions;
    check?: (demo: Fixture, lastPid: number) => void;
  },
): Promise<void> {
  const dir = tempDir("tableflip-demo-");
  const pidFile = join(dir, "demo.pid");
  const port = await freePort();
  const demo = new Fixture(commandFor(RUNTIME, buildDemo(dir, "v0.0.1")), {
    DEMO_ADDR: `127.0.0.1:${port}`,
    DEMO_PID_FILE: pidFile,
    ...options.env,
  }, dir);
  let load: Load | undefined;
  try {
    let pid = Number(await waitForFile(pidFile, (c) => /^\d+\n$/.test(c)));
    assert.is(pid, demo.child.pid);
    load = new Load({ port, path: "/version" }, options.load);
    await load.progress(20);
    const seen = ["v0.0.1\n"];
    for (const version of ["v0.0.2", "v0.0.3", "v0.0.4"]) {
      buildDemo(dir, version);
      process.kill(pid, "SIGHUP");
      const next = Number(await waitForFile(pidFile, (c) => c !== `${pid}\n` && /^\d+\n$/.test(c)));
      await waitForExit(pid);
      pid = next;
      // Once the old generation is gone, only the new version answers (skipping
      // at most one response per client loop that was already in flight).
      const mark = load.report.bodies.length + 4;
      await load.progress(24);
      assert.equal([...new Set(load.report.bodies.slice(mark))], [`${version}\n`]);
      seen.push(`${version}\n`);
    }
    const report = await load.stop();
    assert.equal(report.errors, []);
    assert.is(report.failed, 0);
    assert.equal([...new Set(report.bodies)], seen, "versions appear in upgrade order");
    options.check?.(demo, pid);
  } finally {
    await load?.stop();
    await demo.killAll();
  }
}
