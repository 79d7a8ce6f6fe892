// Typed errors hold across two copies of the library in one process (the npm
// package's ESM and CommonJS builds are separate copies), and so does the
// one-Upgrader-per-process rule.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as one from "../mod.ts";
import { ROOT, tempDir } from "./_helpers.ts";

let copy: Promise<typeof one> | undefined;
/** A second, separate copy of the library: its source copied elsewhere and imported from there. */
function secondCopy(): Promise<typeof one> {
  return copy ??= (async () => {
    const dir = tempDir("tableflip-copy-");
    for (const path of ["mod.ts", "src", "runtimes"]) {
      cpSync(join(ROOT, path), join(dir, path), { recursive: true });
    }
    writeFileSync(join(dir, "package.json"), `{ "type": "module" }\n`);
    return await import(pathToFileURL(join(dir, "mod.ts")).href) as typeof one;
  })();
}

test("the second copy really is separate", async () => {
  const two = await secondCopy();
  assert.is.not(two.TableflipError, one.TableflipError);
});

test("instanceof holds across copies, by class", async () => {
  const two = await secondCopy();
  const error = new two.ChildExitedError(42, 3, null);
  assert.ok(error instanceof one.TableflipError);
  assert.ok(error instanceof one.ChildExitedError);
  assert.not.ok(error instanceof one.ChildTimeoutError);
  assert.not.ok(new Error("plain") instanceof one.TableflipError);
  assert.is(error.code, "ERR_CHILD_EXITED");
});

test("a second Upgrader, even from another copy, is refused until the first stops", async () => {
  const two = await secondCopy();
  const first = new one.Upgrader();
  try {
    assert.throws(() => new two.Upgrader(), (e: Error) =>
      e instanceof one.TableflipError &&
      (e as one.TableflipError).code === "ERR_ALREADY_CREATED");
  } finally {
    first.stop();
  }
  const again = new two.Upgrader();
  again.stop();
});

test.run();
