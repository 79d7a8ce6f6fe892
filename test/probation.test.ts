// Probation: after the child is ready, the parent keeps accepting for a while
// and carries on if the child dies within that window.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Upgrader } from "../mod.ts";
import { get, startChaos, tempDir, waitForExit } from "./_helpers.ts";
import { Load } from "./_load.ts";

test("a child that crashes 1 s after ready, within probation: the parent carries on, 0 failed requests", async () => {
  const pidFile = join(tempDir(), "app.pid");
  const f = startChaos({ pidFile, probation: 4000, gens: { 1: { crashAfter: 1000 } } });
  let load: Load | undefined;
  try {
    const port = await f.port();
    await f.waitFor({ event: "ready", generation: 0 });
    const parent = f.child.pid!;
    load = new Load({ port }, { keepAlive: 0, fresh: 4 });
    await load.servedBy(parent, 20);
    f.signal("SIGHUP");
    const ready = await f.waitFor({ event: "ready", generation: 1 });
    const started = await f.waitFor({ event: "upgrader", type: "probation-started" });
    assert.is(started.eventPid, ready.pid);
    assert.is(started.ms, 4000);
    // While on probation both generations accept on the one socket.
    await load.servedBy(ready.pid, 5);
    const failed = await f.waitFor({ event: "upgrade-failed", generation: 0 });
    assert.is(failed.code, "ERR_CHILD_DIED_IN_PROBATION");
    assert.match(String(failed.message), /SIGKILL/);
    const event = await f.waitFor({ event: "upgrader", type: "probation-failed" });
    assert.is(event.eventPid, ready.pid);
    assert.is(event.signal, "SIGKILL");
    assert.is(event.pidFileRestored, true);
    await waitForExit(ready.pid);
    assert.is(readFileSync(pidFile, "utf8"), `${parent}\n`);
    const servedBefore = load.report.byPid[parent];
    await load.servedBy(parent, servedBefore + 50);
    const report = await load.stop();
    assert.equal(report.failedByKind, {}, `failed requests: ${JSON.stringify(report)}`);
    assert.is(report.failed, 0);
    assert.not.ok(f.lines.some((l) => l.event === "exit-settled" && l.generation === 0));
    // The parent is back to running: a later upgrade is tried (and fails the same way).
    f.signal("SIGHUP");
    const again = await f.waitFor((l) => l.event === "upgrade-failed" && l !== failed);
    assert.is(again.code, "ERR_CHILD_DIED_IN_PROBATION");
  } finally {
    await load?.stop();
    await f.killAll();
  }
});

test("a child that survives probation takes over after the window, not before", async () => {
  const pidFile = join(tempDir(), "app.pid");
  const f = startChaos({ pidFile, probation: 1500 });
  try {
    const port = await f.port();
    await f.waitFor({ event: "ready", generation: 0 });
    f.signal("SIGHUP");
    const ready = await f.waitFor({ event: "ready", generation: 1 });
    const started = await f.waitFor({ event: "upgrader", type: "probation-started" });
    // Still on probation: the parent has not settled exit.
    assert.not.ok(f.lines.some((l) => l.event === "exit-settled"));
    const ok = await f.waitFor({ event: "upgrade-ok", generation: 0 });
    const childReady = f.lines.indexOf(
      f.lines.find((l) => l.event === "upgrader" && l.type === "child-ready")!,
    );
    assert.ok(childReady > f.lines.indexOf(started), "child-ready comes after probation-started");
    assert.ok(f.lines.indexOf(ok) > f.lines.indexOf(started));
    await f.waitFor({ event: "parent-gone", generation: 1 });
    assert.is(readFileSync(pidFile, "utf8"), `${ready.pid}\n`);
    assert.is(JSON.parse((await get({ port })).body).pid, ready.pid);
  } finally {
    await f.killAll();
  }
});

test("probation must be a non-negative number of ms", () => {
  for (const probation of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => new Upgrader({ probation }),
      (e: { code?: string; message: string }) =>
        e.code === "ERR_INVALID_ARGUMENT" && /probation/.test(e.message),
    );
  }
});

test.run();
