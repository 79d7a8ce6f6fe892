// Probation on the fake backend: both generations serve for a window; the
// parent hands over only after it, or carries on if the child dies in it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { childUpgrader, readyParent, rejection, tick, types } from "./_fake.ts";

const PID_FILE = "/app/app.pid";

async function onProbation(probation: number) {
  const made = await readyParent({ probation, pidFile: PID_FILE });
  const upgrading = made.upg.upgrade();
  const child = await made.backend.nextChild();
  const next = childUpgrader(child, { pidFile: PID_FILE });
  await next.upg.listen("tcp", "127.0.0.1:0");
  return { ...made, upgrading, child, next };
}

test("a child that survives probation takes over after the window, not before", async () => {
  const { backend, upg, events, upgrading, child, next } = await onProbation(40);
  const files = backend.system.files;
  await next.upg.ready();
  assert.is(files.read(PID_FILE), `${child.pid}\n`);
  let settled = false;
  upg.exit.then(() => settled = true);
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.not.ok(settled, "still on probation");
  assert.not.ok(child.released);
  assert.equal(types(events).slice(-1), ["probation-started"]);
  assert.equal(events.at(-1), { type: "probation-started", pid: child.pid, ms: 40 });
  await upgrading;
  assert.ok(settled);
  assert.ok(child.released);
  assert.equal(types(events).slice(-3), ["probation-started", "child-ready", "exiting"]);
});

test("a child that dies within probation: upgrade() rejects, the PID file names the parent again", async () => {
  const { backend, upg, events, upgrading, child, next } = await onProbation(10_000);
  await next.upg.ready();
  while (!types(events).includes("probation-started")) await tick();
  assert.is(backend.system.files.read(PID_FILE), `${child.pid}\n`);
  child.die("SIGKILL");
  const error = await rejection(upgrading);
  assert.is(error.code, "ERR_CHILD_DIED_IN_PROBATION");
  assert.match(error.message, /SIGKILL/);
  assert.is(backend.system.files.read(PID_FILE), `${backend.pid()}\n`);
  assert.equal(events.find((e) => e.type === "probation-failed"), {
    type: "probation-failed",
    pid: child.pid,
    exitCode: null,
    signal: "SIGKILL",
    pidFileRestored: true,
  });
  assert.not.ok(upg.exitSignal.aborted);
  // Back to running: a later upgrade is tried.
  const again = upg.upgrade();
  const second = await backend.nextChild();
  second.exit(1);
  assert.is((await rejection(again)).code, "ERR_CHILD_EXITED");
});

test("the PID file cannot be restored after a probation failure: the error says so", async () => {
  const { backend, events, upgrading, child, next } = await onProbation(10_000);
  await next.upg.ready();
  while (!types(events).includes("probation-started")) await tick();
  backend.faults.inject("rename", new Error("EROFS"));
  child.exit(1);
  const error = await rejection(upgrading);
  assert.is(error.code, "ERR_CHILD_DIED_IN_PROBATION");
  assert.match(error.message, /EROFS|PID file/);
});

test("stop() during probation kills the child and points the PID file back at the parent", async () => {
  const { backend, upg, events, upgrading, child, next } = await onProbation(10_000);
  await next.upg.ready();
  while (!types(events).includes("probation-started")) await tick();
  upg.stop();
  assert.is((await rejection(upgrading)).code, "ERR_STOPPED");
  assert.equal(child.signals, ["SIGKILL"]);
  assert.is(backend.system.files.read(PID_FILE), `${backend.pid()}\n`);
});

test("probation 0 is off: the handover happens at the ready line", async () => {
  const { events, upgrading, next } = await onProbation(0);
  await next.upg.ready();
  await upgrading;
  assert.not.ok(types(events).includes("probation-started"));
});

test.run();
