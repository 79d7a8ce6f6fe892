// Probation with real processes: after the child is ready both generations
// accept on the one socket, and when the child dies within the window the
// parent carries on with 0 failed requests and the PID file names it again.
// The rest of probation's logic (the handover after the window, event order,
// stop() during it, option checks) runs on the fake backend:
// fake_probation.test.ts and fake_failures.test.ts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startChaos, tempDir, waitForExit } from "./_helpers.ts";
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

test.run();
