// End to end: the seed demo, rebuilt with a new version and upgraded by
// SIGHUP three times under a real HTTP load, loses no request.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
// @ts-types="../scripts/runtimes.d.mts"
import { commandFor } from "../scripts/runtimes.mjs";
import { Fixture, freePort, ROOT, RUNTIME, tempDir, waitForExit, waitForFile } from "./_helpers.ts";
import { Load } from "./_load.ts";

/** Copies the demo into `dir`, importing the library by absolute URL, at `version`. */
function build(dir: string, version: string): string {
  const source = readFileSync(join(ROOT, "examples", "demo.ts"), "utf8")
    .replace(`"../mod.ts"`, JSON.stringify(pathToFileURL(join(ROOT, "mod.ts")).href))
    .replace(/const version = "[^"]*";/, `const version = "${version}";`);
  const file = join(dir, "demo.ts");
  writeFileSync(join(dir, "package.json"), `{ "type": "module" }\n`);
  writeFileSync(file, source);
  return file;
}

test("the demo switches v0.0.1 -> v0.0.4 over 3 SIGHUPs with 0 failed requests", async () => {
  const dir = tempDir("tableflip-demo-");
  const pidFile = join(dir, "demo.pid");
  const port = await freePort();
  const file = build(dir, "v0.0.1");
  const demo = new Fixture(commandFor(RUNTIME, file), {
    DEMO_ADDR: `127.0.0.1:${port}`,
    DEMO_PID_FILE: pidFile,
  }, dir);
  let load: Load | undefined;
  try {
    let pid = Number(await waitForFile(pidFile, (c) => /^\d+\n$/.test(c)));
    assert.is(pid, demo.child.pid);
    load = new Load({ port, path: "/version" }, { keepAlive: 2, fresh: 2 });
    await load.progress(20);
    const seen = ["v0.0.1\n"];
    for (const version of ["v0.0.2", "v0.0.3", "v0.0.4"]) {
      build(dir, version);
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
    const logged = demo.lines.filter((l) => l.event === "text").map((l) => String(l.text));
    assert.ok(
      logged.some((t) =>
        new RegExp(`^\\[PID: ${pid}\\] \\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d v0\\.0\\.4$`).test(
          t,
        )
      ),
      "the last generation logs `[PID: n] date time v0.0.4`",
    );
  } finally {
    await load?.stop();
    await demo.killAll();
  }
});

test.run();
