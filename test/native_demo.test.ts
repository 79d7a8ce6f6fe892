// End to end: the demo in native mode (`DEMO_SERVER=native`: Bun.serve or
// Deno.serve on the upgrader's socket), upgraded by SIGHUP three times under
// keep-alive and per-request load, loses no request. Bun and Deno only.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
// @ts-types="../scripts/runtimes.d.mts"
import { commandFor } from "../scripts/runtimes.mjs";
import { Fixture, freePort, ROOT, RUNTIME, tempDir, waitForExit, waitForFile } from "./_helpers.ts";
import { type LoadMode, NativeLoad } from "./fixtures/native_load.ts";

/** Copies the demo into `dir`, importing the library by absolute URL, at `version`. */
function build(dir: string, version: string): string {
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

async function upgradeThrice(mode: LoadMode): Promise<void> {
  const dir = tempDir("tableflip-native-demo-");
  const pidFile = join(dir, "demo.pid");
  const port = await freePort();
  const file = build(dir, "v0.0.1");
  const demo = new Fixture(commandFor(RUNTIME, file), {
    DEMO_ADDR: `127.0.0.1:${port}`,
    DEMO_PID_FILE: pidFile,
    DEMO_SERVER: "native",
  }, dir);
  let load: NativeLoad | undefined;
  try {
    let pid = Number(await waitForFile(pidFile, (c) => /^\d+\n$/.test(c)));
    load = new NativeLoad(port, mode, { clients: 4, path: "/version" });
    await load.progress(50);
    const seen = ["v0.0.1\n"];
    for (const version of ["v0.0.2", "v0.0.3", "v0.0.4"]) {
      build(dir, version);
      process.kill(pid, "SIGHUP");
      const next = Number(await waitForFile(pidFile, (c) => c !== `${pid}\n` && /^\d+\n$/.test(c)));
      await waitForExit(pid);
      pid = next;
      // Once the old generation is gone only the new version answers (past the
      // at most one response per client that was already in flight).
      const mark = load.answered + 4;
      await load.progress(50);
      assert.equal(load.bodiesSince(mark), [`${version}\n`]);
      seen.push(`${version}\n`);
    }
    const report = await load.stop();
    load = undefined;
    assert.equal(report.errors, []);
    assert.is(report.failed, 0);
    assert.equal([...new Set(report.bodies)], seen, "versions appear in upgrade order");
    const text = demo.lines.filter((l) => l.event === "text").map((l) => String(l.text));
    assert.not.ok(
      text.some((t) => t.includes("Native server unavailable")),
      `a generation fell back to node:http:\n${text.filter((t) => !/ v0\.0\.\d$/.test(t))}`,
    );
  } finally {
    await load?.stop();
    await demo.killAll();
  }
}

if (RUNTIME !== "bun" && RUNTIME !== "deno") {
  console.log(`native_demo: not registered on ${RUNTIME}: native servers are Bun and Deno only`);
} else {
  for (const mode of ["keep-alive", "close"] as const) {
    test(`the native demo (${RUNTIME}) upgrades 3 times under ${mode} load with 0 failed`, async () => {
      await upgradeThrice(mode);
    });
  }
}

test.run();
