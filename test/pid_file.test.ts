// The PID file: written at ready(), atomically, resolved against the initial
// working directory, and moved to the new generation by an upgrade.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readdirSync, readFileSync, watch } from "node:fs";
import { join } from "node:path";
import { startFixture, tempDir } from "./_helpers.ts";

test("ready() writes the pid; an upgrade replaces it with the child's pid atomically", async () => {
  const dir = tempDir();
  const pidFile = join(dir, "app.pid");
  const f = startFixture("server.ts", { FIXTURE: JSON.stringify({ pidFile }) });
  try {
    await f.waitFor({ event: "ready", generation: 0 });
    assert.is(readFileSync(pidFile, "utf8"), `${f.child.pid}\n`);
    // Every change to the file, as seen by a reader, is a whole pid line.
    const seen: string[] = [];
    const watcher = watch(dir, () => {
      if (existsSync(pidFile)) seen.push(readFileSync(pidFile, "utf8"));
    });
    f.signal("SIGHUP");
    const child = await f.waitFor({ event: "ready", generation: 1 });
    await f.waitFor({ event: "upgrade-ok", generation: 0 });
    watcher.close();
    assert.is(readFileSync(pidFile, "utf8"), `${child.pid}\n`);
    for (const content of seen) assert.match(content, /^\d+\n$/);
    assert.equal(readdirSync(dir), ["app.pid"], "no temp file is left behind");
  } finally {
    await f.killAll();
  }
});

test("a relative pidFile is resolved against the initial working directory", async () => {
  const dir = tempDir();
  const f = startFixture("server.ts", { FIXTURE: JSON.stringify({ pidFile: "rel.pid" }) }, {
    cwd: dir,
  });
  try {
    await f.waitFor({ event: "ready", generation: 0 });
    assert.is(readFileSync(join(dir, "rel.pid"), "utf8"), `${f.child.pid}\n`);
  } finally {
    await f.killAll();
  }
});

test("an unwritable PID file makes ready() fail with ERR_PID_FILE naming the path", async () => {
  const dir = tempDir();
  const pidFile = join(dir, "missing-dir", "app.pid");
  const f = startFixture("server.ts", { FIXTURE: JSON.stringify({ pidFile }) });
  try {
    const failed = await f.waitFor({ event: "ready-failed" });
    assert.is(failed.code, "ERR_PID_FILE");
    assert.match(String(failed.message), pidFile);
    await f.exited;
  } finally {
    await f.killAll();
  }
});

test("an upgrade whose child cannot write the PID file fails; the parent's pid stays", async () => {
  const dir = tempDir();
  const pidFile = join(dir, "app.pid");
  const f = startFixture("server.ts", {
    FIXTURE: JSON.stringify({ pidFile, gens: { 1: { pidFile: join(dir, "no", "x.pid") } } }),
  });
  try {
    await f.waitFor({ event: "ready", generation: 0 });
    f.signal("SIGHUP");
    const failed = await f.waitFor({ event: "upgrade-failed", generation: 0 });
    assert.is(failed.code, "ERR_CHILD_EXITED");
    assert.is(readFileSync(pidFile, "utf8"), `${f.child.pid}\n`);
  } finally {
    await f.killAll();
  }
});

test.run();
