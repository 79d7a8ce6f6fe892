// The upgrade contract, with real processes, sockets and signals: what each
// backend must do for real (hand the socket over, report how a child ended,
// kill a child that hangs, close fds nobody claimed). The state machine
// around it (one upgrade at a time, ERR_NOT_READY, ERR_PARENT_ALIVE, stop()
// during an upgrade, port 0 lookup) is tested on the fake backend, in
// fake_handover.test.ts and fake_failures.test.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { get, probe, startFixture, waitForExit } from "./_helpers.ts";

const fixture = (config: Record<string, unknown>) =>
  startFixture("server.ts", { FIXTURE: JSON.stringify(config) });

test("hands the listener over: the child accepts on it, the parent closes its copy", async () => {
  const f = fixture({});
  try {
    const port = await f.port();
    await f.waitFor({ event: "ready", generation: 0 });
    const before = JSON.parse((await get({ port })).body);
    assert.is(before.generation, 0);
    f.signal("SIGHUP");
    const child = await f.waitFor({ event: "listening", generation: 1 });
    assert.is(child.inherited, true);
    assert.is(child.port, port);
    await f.waitFor({ event: "upgrade-ok", generation: 0 });
    await f.waitFor({ event: "drained", generation: 0 });
    await f.exited;
    const after = JSON.parse((await get({ port })).body);
    assert.is(after.generation, 1);
    assert.is(after.pid, child.pid);
    await f.waitFor({ event: "parent-gone", generation: 1 });
  } finally {
    await f.killAll();
  }
});

for (
  const [name, gen1, expect] of [
    ["exits with an error", { mode: "exit", code: 3 }, {
      code: "ERR_CHILD_EXITED",
      message: /code 3/,
    }],
    ["is killed", { mode: "crash" }, { code: "ERR_CHILD_EXITED", message: /SIGKILL/ }],
  ] as const
) {
  test(`a child that ${name} before ready fails the upgrade; the parent keeps serving`, async () => {
    const f = fixture({ gens: { 1: gen1 } });
    try {
      const port = await f.port();
      await f.waitFor({ event: "ready", generation: 0 });
      f.signal("SIGHUP");
      const failed = await f.waitFor({ event: "upgrade-failed" });
      assert.is(failed.code, expect.code);
      assert.match(String(failed.message), expect.message);
      const res = JSON.parse((await get({ port })).body);
      assert.is(res.pid, f.child.pid);
      // And a later upgrade still works.
      assert.ok(!f.lines.some((l) => l.event === "exit-settled"));
    } finally {
      await f.killAll();
    }
  });
}

test("a child that hangs is killed at upgradeTimeout; the parent keeps serving", async () => {
  const f = fixture({ upgradeTimeout: 1500, gens: { 1: { mode: "hang" } } });
  try {
    const port = await f.port();
    await f.waitFor({ event: "ready", generation: 0 });
    f.signal("SIGHUP");
    const hanging = await f.waitFor({ event: "hanging", generation: 1 });
    const failed = await f.waitFor({ event: "upgrade-failed" });
    assert.is(failed.code, "ERR_CHILD_TIMEOUT");
    await waitForExit(hanging.pid);
    assert.is(JSON.parse((await get({ port })).body).pid, f.child.pid);
  } finally {
    await f.killAll();
  }
});

test("inherited fds nobody claims are closed at ready()", async () => {
  const f = fixture({
    listen: ["tcp 127.0.0.1:0", "tcp 127.0.0.2:0"],
    gens: { 1: { listen: ["tcp 127.0.0.1:0"] } },
  });
  try {
    const second = await f.waitFor((l) => l.event === "listening" && l.address === "127.0.0.2:0");
    await f.waitFor({ event: "ready", generation: 0 });
    f.signal("SIGHUP");
    const closed = await f.waitFor({ event: "upgrader", type: "fd-closed", generation: 1 });
    assert.equal(closed.entry, {
      kind: "listener",
      network: "tcp",
      address: `127.0.0.2:${second.port}`,
    });
    await f.waitFor({ event: "parent-gone", generation: 1 });
    const s = await new Promise<string>((resolve) => {
      import("node:net").then(({ connect }) => {
        const c = connect({ host: "127.0.0.2", port: second.port as number });
        c.once("connect", () => (c.destroy(), resolve("connected")));
        c.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      });
    });
    assert.is(s, "ECONNREFUSED");
  } finally {
    await f.killAll();
  }
});

test("the old process stops accepting once drained: refused only after the last generation is gone", async () => {
  const f = fixture({});
  try {
    const port = await f.port();
    await f.waitFor({ event: "ready", generation: 0 });
    f.signal("SIGHUP");
    const g1 = await f.waitFor({ event: "ready", generation: 1 });
    await f.exited;
    assert.is(await probe(port), "connected");
    f.signal("SIGKILL", g1.pid);
    await waitForExit(g1.pid);
    assert.is(await probe(port), "ECONNREFUSED");
  } finally {
    await f.killAll();
  }
});

test.run();
