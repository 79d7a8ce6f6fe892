// A `bun build --compile` executable upgrades into itself: same executable and
// arguments, no script path (its entry point lives in /$bunfs/), and its
// baked-in runtime flags are not passed again. Runs Bun whatever the suite runtime.
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Fixture, get, ROOT, tempDir } from "./_helpers.ts";
// @ts-types="../scripts/runtimes.d.mts"
import { runtime } from "../scripts/runtimes.mjs";

function compile(outfile: string): Promise<number | null> {
  const child = spawn(runtime("bun").exe, [
    "build",
    "--compile",
    "--compile-exec-argv=--smol",
    join(ROOT, "test", "fixtures", "server.ts"),
    "--outfile",
    outfile,
  ], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

test("a compiled Bun executable re-executes itself with its arguments and serves the inherited listener", async () => {
  const dir = tempDir("tableflip-bun-compile-");
  const bin = join(dir, "server-bin");
  let f: Fixture | undefined;
  try {
    assert.is(await compile(bin), 0);
    f = new Fixture([bin, "first arg", "--second"], { FIXTURE: "{}" });
    const port = await f.port();
    await f.waitFor({ event: "ready", generation: 0 });
    f.signal("SIGHUP");
    const child = await f.waitFor({ event: "ready", generation: 1 });
    assert.ok(f.lines.some((l) => l.event === "listening" && l.generation === 1 && l.inherited));
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, "utf8").split("\0").slice(0, -1);
    assert.equal(argv, [bin, "first arg", "--second"]);
    await f.waitFor({ event: "parent-gone", generation: 1 });
    assert.is(JSON.parse((await get({ port })).body).pid, child.pid);
  } finally {
    await f?.killAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
