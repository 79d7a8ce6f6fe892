// Named fds (addFile/file) and the tcp4/tcp6 networks survive an upgrade.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { get, startFixture, tempDir } from "./_helpers.ts";

test("a file registered with addFile() is inherited by name and is the same open file", async () => {
  const log = join(tempDir(), "audit.log");
  const f = startFixture("server.ts", { FIXTURE: JSON.stringify({ files: { audit: log } }) });
  try {
    const first = await f.waitFor({ event: "file", generation: 0 });
    assert.is(first.inherited, false);
    assert.is(first.target, log);
    await f.waitFor({ event: "ready", generation: 0 });
    f.signal("SIGHUP");
    const second = await f.waitFor({ event: "file", generation: 1 });
    assert.is(second.inherited, true);
    assert.is(second.target, log, "the child's fd points at the same file");
    await f.waitFor({ event: "ready", generation: 1 });
  } finally {
    await f.killAll();
  }
});

test("tcp4 and tcp6 listeners are handed over under their own networks", async () => {
  const f = startFixture("server.ts", {
    FIXTURE: JSON.stringify({ listen: ["tcp4 127.0.0.1:0", "tcp6 [::1]:0"] }),
  });
  try {
    const v4 = await f.waitFor({ event: "listening", generation: 0, network: "tcp4" });
    const v6 = await f.waitFor({ event: "listening", generation: 0, network: "tcp6" });
    await f.waitFor({ event: "ready", generation: 0 });
    f.signal("SIGHUP");
    const c4 = await f.waitFor({ event: "listening", generation: 1, network: "tcp4" });
    const c6 = await f.waitFor({ event: "listening", generation: 1, network: "tcp6" });
    assert.equal([c4.port, c4.inherited, c6.port, c6.inherited], [v4.port, true, v6.port, true]);
    await f.waitFor({ event: "parent-gone", generation: 1 });
    const body4 = JSON.parse((await get({ port: c4.port as number })).body);
    const body6 = JSON.parse((await get({ port: c6.port as number, host: "::1" })).body);
    assert.equal([body4.generation, body6.generation], [1, 1]);
  } finally {
    await f.killAll();
  }
});

test.run();
