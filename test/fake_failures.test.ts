// The upgrader's state machine on the fake backend: every way an upgrade can
// fail leaves the parent serving and able to upgrade again.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type FakeChild, fakeUpgrader, readyParent, rejection, tick, types } from "./_fake.ts";
import type { Upgrader } from "../src/upgrader.ts";
import type { FakeBackend } from "../src/testing/fake_backend.ts";

/** The parent is still running: a later upgrade succeeds. */
async function upgradesAgain(backend: FakeBackend, upg: Upgrader): Promise<void> {
  const before = backend.children.length;
  const again = upg.upgrade();
  while (backend.children.length <= before) await tick();
  backend.children[before].ready();
  await again;
}

for (
  const [name, end, code, message] of [
    ["exits cleanly", (c: FakeChild) => c.exit(0), "ERR_CHILD_EXITED", /code 0/],
    ["exits with an error", (c: FakeChild) => c.exit(3), "ERR_CHILD_EXITED", /code 3/],
    ["is killed", (c: FakeChild) => c.die("SIGKILL"), "ERR_CHILD_EXITED", /SIGKILL/],
  ] as const
) {
  test(`a child that ${name} before ready fails the upgrade; the parent carries on`, async () => {
    const { backend, upg, events } = await readyParent();
    const upgrading = upg.upgrade();
    const child = await backend.nextChild();
    end(child);
    const error = await rejection(upgrading);
    assert.is(error.code, code);
    assert.match(error.message, message);
    assert.match(error.message, String(child.pid));
    assert.equal(types(events), ["ready", "upgrade-started", "child-spawned", "upgrade-failed"]);
    assert.not.ok(upg.exitSignal.aborted);
    await upgradesAgain(backend, upg);
  });
}

test("a child that never becomes ready is SIGKILLed at upgradeTimeout", async () => {
  const { backend, upg } = await readyParent({ upgradeTimeout: 30 });
  const upgrading = upg.upgrade();
  const child = await backend.nextChild();
  const error = await rejection(upgrading);
  assert.is(error.code, "ERR_CHILD_TIMEOUT");
  assert.match(error.message, /30 ms/);
  assert.equal(child.signals, ["SIGKILL"]);
  assert.not.ok(child.alive);
  await upgradesAgain(backend, upg);
});

test("upgradeTimeout and probation must be positive / non-negative numbers", () => {
  for (const upgradeTimeout of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => fakeUpgrader({ upgradeTimeout }), /upgradeTimeout must be/);
  }
  for (const probation of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => fakeUpgrader({ probation }), /probation must be/);
  }
});

test("one upgrade at a time: a storm of calls starts one, the rest get ERR_UPGRADE_IN_PROGRESS", async () => {
  const { backend, upg, events } = await readyParent();
  const failures: string[] = [];
  upg.upgradeOnSignal("SIGHUP", (e) => failures.push(e.code));
  for (let i = 0; i < 10; i++) assert.is(backend.signal("SIGHUP"), 1);
  await tick();
  assert.equal(failures, Array(9).fill("ERR_UPGRADE_IN_PROGRESS"));
  assert.is(backend.children.length, 1);
  assert.is(types(events).filter((t) => t === "upgrade-started").length, 1);
  backend.children[0].ready();
  await upg.exit;
  assert.is(backend.children.length, 1);
});

test("upgradeOnSignal returns a function that removes the handler", async () => {
  const { backend, upg } = await readyParent();
  const remove = upg.upgradeOnSignal("SIGUSR2");
  remove();
  assert.is(backend.signal("SIGUSR2"), 0);
  assert.is(backend.children.length, 0);
  upg.stop();
});

test("upgrade before ready() is rejected with ERR_NOT_READY; nothing is spawned", async () => {
  const { backend, upg, events } = fakeUpgrader();
  const error = await rejection(upg.upgrade());
  assert.is(error.code, "ERR_NOT_READY");
  assert.is(backend.children.length, 0);
  assert.equal(types(events), ["upgrade-failed"]);
  upg.stop();
});

test("a child cannot upgrade until its parent has exited (ERR_PARENT_ALIVE), then can", async () => {
  const { backend, upg } = await readyParent();
  const first = upg.upgrade();
  const child = await backend.nextChild();
  const { upgraderFor } = await import("./_fake.ts");
  const next = upgraderFor(child.backend);
  await next.listen("tcp", "127.0.0.1:0");
  await next.ready();
  await first;
  const error = await rejection(next.upgrade());
  assert.is(error.code, "ERR_PARENT_ALIVE");
  assert.match(error.message, String(backend.pid()));
  assert.is(child.backend.children.length, 0);
  backend.exit();
  await next.waitForParent();
  const second = next.upgrade();
  (await child.backend.nextChild()).ready();
  await second;
});

test("waitForParent(signal) rejects when the signal aborts first", async () => {
  const { backend, upg } = await readyParent();
  const upgrading = upg.upgrade();
  const child = await backend.nextChild();
  const { upgraderFor } = await import("./_fake.ts");
  const next = upgraderFor(child.backend);
  const abort = new AbortController();
  const waiting = next.waitForParent(abort.signal);
  abort.abort(new Error("gave up"));
  assert.match((await rejection(waiting)).message, /gave up/);
  await rejection(next.waitForParent(AbortSignal.abort(new Error("already"))));
  await next.ready();
  await upgrading;
});

test("stop() during an upgrade kills the child, rejects with ERR_STOPPED and settles exit", async () => {
  const { backend, upg, events } = await readyParent();
  const upgrading = upg.upgrade();
  const child = await backend.nextChild();
  upg.stop();
  const error = await rejection(upgrading);
  assert.is(error.code, "ERR_STOPPED");
  assert.equal(child.signals, ["SIGKILL"]);
  await upg.exit;
  assert.ok(types(events).includes("exiting"));
  assert.equal(events.find((e) => e.type === "exiting"), { type: "exiting", reason: "stopped" });
  assert.is((await rejection(upg.upgrade())).code, "ERR_STOPPED");
  assert.is((await rejection(upg.listen("tcp", ":1"))).code, "ERR_STOPPED");
  assert.is((await rejection(upg.ready())).code, "ERR_STOPPED");
});

test("stop() in the same tick as the child's ready line: the child does not take over", async () => {
  const { backend, upg } = await readyParent();
  const upgrading = upg.upgrade();
  const child = await backend.nextChild();
  child.ready();
  await Promise.resolve();
  await Promise.resolve();
  upg.stop();
  const error = await rejection(upgrading);
  assert.is(error.code, "ERR_STOPPED");
  assert.not.ok(child.released);
  assert.not.ok(child.alive);
});

test("an aborted upgrade kills the child; the parent keeps running and upgrades later", async () => {
  const { backend, upg } = await readyParent();
  const abort = new AbortController();
  const upgrading = upg.upgrade({ signal: abort.signal });
  const child = await backend.nextChild();
  abort.abort();
  const error = await rejection(upgrading);
  assert.is(error.code, "ERR_STOPPED");
  assert.match(error.message, /aborted/);
  assert.not.ok(child.alive);
  assert.is((await rejection(upg.upgrade({ signal: AbortSignal.abort() }))).code, "ERR_STOPPED");
  await upgradesAgain(backend, upg);
});

test("after a handover the process refuses to upgrade or listen again", async () => {
  const { backend, upg } = await readyParent();
  await upgradesAgain(backend, upg);
  assert.is((await rejection(upg.upgrade())).code, "ERR_STOPPED");
  assert.match((await rejection(upg.listen("tcp", ":2"))).message, /already handed over/);
  upg.stop(); // a no-op now
});

test("one Upgrader per process: a second is refused until the first stops", () => {
  const { backend, upg } = fakeUpgrader();
  return import("./_fake.ts").then(({ upgraderFor }) => {
    assert.throws(
      () => upgraderFor(backend),
      (e: { code: string }) => e.code === "ERR_ALREADY_CREATED",
    );
    upg.stop();
    upgraderFor(backend).stop();
  });
});

// --- a fault at every step ---------------------------------------------------

for (const step of ["environment", "reexecArgv", "fdOf", "spawn"] as const) {
  test(`a failing ${step}() fails the upgrade; nothing is left running; the next one works`, async () => {
    const { backend, upg, events } = await readyParent();
    backend.faults.inject(step, new Error(`broken ${step}`));
    const error = await rejection(upg.upgrade());
    assert.match(error.message, `broken ${step}`);
    assert.is(error.code, "ERR_SPAWN", "a raw error from the backend comes out typed");
    assert.is(types(events).at(-1), "upgrade-failed");
    assert.ok(backend.children.every((c) => !c.alive));
    await upgradesAgain(backend, upg);
  });
}

test("a child that cannot start (pid 0, e.g. a missing executable) fails with ERR_SPAWN", async () => {
  const { backend, upg, events } = await readyParent();
  backend.faults.inject("start", Object.assign(new Error("spawn ENOENT"), { code: "ENOENT" }));
  const error = await rejection(upg.upgrade());
  assert.is(error.code, "ERR_SPAWN");
  assert.match(error.message, /ENOENT/);
  assert.not.ok(types(events).includes("child-spawned"), "no child-spawned for pid 0");
  await upgradesAgain(backend, upg);
});

for (const step of ["getEnv", "fdType", "deleteEnv", "connectParent", "cwd"] as const) {
  test(`the next generation's constructor fails when ${step}() fails; the upgrade fails with it`, async () => {
    const { backend, upg } = await readyParent();
    const upgrading = upg.upgrade();
    const child = await backend.nextChild();
    child.backend.faults.inject(step, new Error(`broken ${step}`));
    const { upgraderFor } = await import("./_fake.ts");
    assert.throws(() => upgraderFor(child.backend), `broken ${step}`);
    child.exit(2); // what a server does when its Upgrader cannot be made
    assert.is((await rejection(upgrading)).code, "ERR_CHILD_EXITED");
  });
}

test("listen() failing is ERR_LISTEN naming the address; adopt() failing is ERR_INHERITED_FD", async () => {
  const { backend, upg } = await readyParent();
  backend.faults.inject("listen", new Error("EACCES"));
  const listenError = await rejection(upg.listen("tcp", "127.0.0.1:80"));
  assert.is(listenError.code, "ERR_LISTEN");
  assert.match(listenError.message, /tcp 127\.0\.0\.1:80.*EACCES/);
  const upgrading = upg.upgrade();
  const child = await backend.nextChild();
  const { upgraderFor } = await import("./_fake.ts");
  const next = upgraderFor(child.backend);
  child.backend.faults.inject("adopt", new Error("EINVAL"));
  const adoptError = await rejection(next.listen("tcp", "127.0.0.1:0"));
  assert.is(adoptError.code, "ERR_INHERITED_FD");
  assert.match(adoptError.message, /inherited fd 3: cannot adopt tcp listener .*EINVAL/);
  await next.ready();
  await upgrading;
});

test("an address that does not parse is ERR_INVALID_ARGUMENT before the backend is asked", async () => {
  const { backend, upg } = fakeUpgrader();
  for (const [network, address] of [["tcp", "8080"], ["udp", ":1"], ["unix", ""]]) {
    const error = await rejection(upg.listen(network as "tcp", address));
    assert.is(error.code, "ERR_INVALID_ARGUMENT");
  }
  assert.not.ok(backend.calls.includes("listen"));
  upg.stop();
});

test.run();
