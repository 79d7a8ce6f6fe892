// Unix listeners: handed over like TCP ones, and the socket path is never
// unlinked by the handover (the old process closing its copy must not remove it).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { get, startFixture, tempDir } from "./_helpers.ts";

test("a unix socket is handed over twice and its path survives", async () => {
  const path = join(tempDir(), "app.sock");
  const f = startFixture("server.ts", { FIXTURE: JSON.stringify({ listen: [`unix ${path}`] }) });
  try {
    await f.waitFor({ event: "ready", generation: 0 });
    assert.ok(statSync(path).isSocket());
    assert.is(JSON.parse((await get({ socketPath: path })).body).generation, 0);
    f.signal("SIGHUP");
    const g1 = await f.waitFor({ event: "listening", generation: 1 });
    assert.is(g1.inherited, true);
    await f.waitFor({ event: "drained", generation: 0 });
    await f.exited;
    assert.ok(existsSync(path), "the old generation must not unlink the path");
    assert.is(JSON.parse((await get({ socketPath: path })).body).generation, 1);
    await f.waitFor({ event: "parent-gone", generation: 1 });
    f.signal("SIGHUP", g1.pid);
    await f.waitFor({ event: "drained", generation: 1 });
    assert.ok(existsSync(path));
    assert.is(JSON.parse((await get({ socketPath: path })).body).generation, 2);
  } finally {
    await f.killAll();
  }
});

test("listening on an existing path fails with ERR_LISTEN and leaves the file alone", async () => {
  const path = join(tempDir(), "taken.sock");
  writeFileSync(path, "not a socket");
  const f = startFixture("server.ts", { FIXTURE: JSON.stringify({ listen: [`unix ${path}`] }) });
  try {
    const failed = await f.waitFor({ event: "listen-failed" });
    assert.is(failed.code, "ERR_LISTEN");
    assert.match(String(failed.message), path);
    assert.ok(statSync(path).isFile());
  } finally {
    await f.killAll();
  }
});

test.run();
