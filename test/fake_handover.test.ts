// The upgrader's handover logic on the fake backend (no processes, no fds):
// what is passed, how the next generation adopts it, and the events.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { childUpgrader, fakeUpgrader, readyParent, types } from "./_fake.ts";

test("upgrade passes the listener and a control socket; the child adopts it; exit settles", async () => {
  const { backend, upg, events, port } = await readyParent({ env: { EXTRA: "1" } });
  const upgrading = upg.upgrade();
  const child = await backend.nextChild();
  const manifest = child.manifest!;
  assert.equal(manifest.fds, [
    { fd: 3, kind: "listener", network: "tcp", address: `127.0.0.1:${port}` },
  ]);
  assert.equal([manifest.v, manifest.parentPid, manifest.generation, manifest.control], [
    1,
    backend.pid(),
    1,
    4,
  ]);
  assert.is(child.spawn.env.EXTRA, "1");
  assert.equal(child.spawn.argv, ["fake-runtime", "app.js"]);
  assert.is(child.spawn.cwd, "/app");

  const next = childUpgrader(child);
  assert.is(next.upg.generation, 1);
  assert.ok(next.upg.hasParent());
  assert.is(child.backend.getEnv("TABLEFLIP_MANIFEST"), undefined, "removed for grandchildren");
  const adopted = await next.upg.listen("tcp", "127.0.0.1:0");
  assert.is((adopted.address() as { port: number }).port, port, "port 0 finds the inherited one");
  assert.ok(child.backend.calls.includes("adopt"));
  assert.not.ok(child.backend.calls.includes("listen"));
  await next.upg.ready();
  await upgrading;
  await upg.exit;
  assert.ok(upg.exitSignal.aborted);
  assert.ok(child.released);
  assert.equal(types(events), [
    "ready",
    "upgrade-started",
    "child-spawned",
    "child-ready",
    "exiting",
  ]);
  assert.equal(events[2], { type: "child-spawned", pid: child.pid, fds: 1 });
  assert.equal(events[4], { type: "exiting", reason: "upgraded" });

  // The parent process exits: the child sees its parent go, and may upgrade in turn.
  let gone = false;
  next.upg.waitForParent().then(() => gone = true);
  assert.not.ok(gone);
  backend.exit();
  await next.upg.waitForParent();
  assert.ok(types(next.events).includes("parent-gone"));
  const third = next.upg.upgrade();
  const grandchild = await child.backend.nextChild();
  assert.is(grandchild.manifest!.generation, 2);
  assert.equal(grandchild.manifest!.fds[0].fd, 3);
  grandchild.ready();
  await third;
});

test("port 0 is registered under the port it got and survives two upgrades", async () => {
  const { backend, upg, port } = await readyParent();
  assert.ok(port > 0);
  const first = upg.upgrade();
  const child = await backend.nextChild();
  const gen1 = childUpgrader(child);
  await gen1.upg.listen("tcp", "127.0.0.1:0");
  await gen1.upg.ready();
  await first;
  backend.exit();
  await gen1.upg.waitForParent();
  const second = gen1.upg.upgrade();
  const grandchild = await child.backend.nextChild();
  assert.equal(grandchild.manifest!.fds.map((e) => e.kind === "listener" && e.address), [
    `127.0.0.1:${port}`,
  ]);
  const gen2 = childUpgrader(grandchild);
  const l2 = await gen2.upg.listen("tcp", `127.0.0.1:${port}`);
  assert.is((l2.address() as { port: number }).port, port);
  await gen2.upg.ready();
  await second;
  assert.is(gen2.upg.generation, 2);
});

test("inherited fds nobody claims are closed at ready(), each with an fd-closed event", async () => {
  const { backend, upg } = fakeUpgrader();
  await upg.listen("tcp", "127.0.0.1:0");
  const second = await upg.listen("tcp", "127.0.0.2:0");
  upg.addFile("log", backend.open("file"));
  await upg.ready();
  const upgrading = upg.upgrade();
  const child = await backend.nextChild();
  const next = childUpgrader(child);
  await next.upg.listen("tcp", "127.0.0.1:0");
  await next.upg.ready();
  await upgrading;
  const closed = next.events.filter((e) => e.type === "fd-closed");
  assert.equal(closed, [
    {
      type: "fd-closed",
      fd: 4,
      entry: {
        kind: "listener",
        network: "tcp",
        address: `127.0.0.2:${(second.address() as { port: number }).port}`,
      },
    },
    { type: "fd-closed", fd: 5, entry: { kind: "file", name: "log" } },
  ]);
  assert.equal(child.backend.closedFds, [4, 5]);
  assert.is(child.backend.fdType(4), "closed");
  assert.is(child.backend.fdType(3), "socket", "the claimed one stays open");
});

test("a named file is passed and found by name; an unknown name is undefined", async () => {
  const { backend, upg } = fakeUpgrader();
  const fd = backend.open("file", undefined, "/var/log/audit.log");
  upg.addFile("audit", fd);
  assert.throws(
    () => upg.addFile("bad", -1),
    (e: { code: string }) => e.code === "ERR_INVALID_ARGUMENT",
  );
  assert.throws(() => upg.addFile("audit", fd), /already registered/);
  await upg.ready();
  const upgrading = upg.upgrade();
  const child = await backend.nextChild();
  const next = childUpgrader(child);
  const inherited = next.upg.file("audit")!;
  assert.equal(child.backend.fds.get(inherited), { kind: "file", path: "/var/log/audit.log" });
  assert.is(next.upg.file("other"), undefined);
  await next.upg.ready();
  await upgrading;
});

test("a listener the application closed is not passed on (and the rest still are)", async () => {
  const { backend, upg } = fakeUpgrader();
  const kept = await upg.listen("tcp", "127.0.0.1:0");
  const closed = await upg.listen("unix", "/run/app.sock");
  await new Promise((resolve) => closed.close(resolve));
  await upg.ready();
  const upgrading = upg.upgrade();
  const child = await backend.nextChild();
  assert.equal(child.manifest!.fds.map((e) => e.kind === "listener" && e.address), [
    `127.0.0.1:${(kept.address() as { port: number }).port}`,
  ]);
  child.ready();
  await upgrading;
});

test("tcp4, tcp6 and unix listeners keep their network in the manifest", async () => {
  const { backend, upg } = fakeUpgrader();
  await upg.listen("tcp4", "127.0.0.1:8080");
  await upg.listen("tcp6", "[::1]:8081");
  await upg.listen("unix", "/run/app.sock");
  await upg.ready();
  const upgrading = upg.upgrade();
  const child = await backend.nextChild();
  assert.equal(
    child.manifest!.fds.map((e) => e.kind === "listener" && `${e.network} ${e.address}`),
    ["tcp4 127.0.0.1:8080", "tcp6 [::1]:8081", "unix /run/app.sock"],
  );
  const next = childUpgrader(child);
  assert.is(await next.upg.listener("tcp4", "127.0.0.1:8081"), undefined, "another port");
  assert.ok(await next.upg.listener("tcp6", "[::1]:8081"));
  assert.ok(await next.upg.listener("unix", "/run/app.sock"));
  child.ready();
  await upgrading;
});

test("listen twice on one address returns the same listener; listener() alone never binds", async () => {
  const { backend, upg } = fakeUpgrader();
  assert.is(await upg.listener("tcp", ":8080"), undefined);
  const a = await upg.listen("tcp", ":8080");
  assert.is(await upg.listen("tcp", ":8080"), a);
  assert.is(backend.calls.filter((c) => c === "listen").length, 1);
  upg.stop();
});

test("command, cwd and env options shape the next generation; the environment is passed on", async () => {
  const { backend, upg } = fakeUpgrader(
    { command: ["/usr/bin/next", "--flag"], cwd: "/srv", env: { MODE: "x" } },
    { env: { KEEP: "1" } },
  );
  await upg.ready();
  const upgrading = upg.upgrade();
  const child = await backend.nextChild();
  assert.equal(child.spawn.argv, ["/usr/bin/next", "--flag"]);
  assert.is(child.spawn.cwd, "/srv");
  assert.equal([child.spawn.env.MODE, child.spawn.env.KEEP], ["x", "1"]);
  assert.is(child.manifest!.generation, 1);
  child.ready();
  await upgrading;
});

test("a throwing onEvent hook does not break an upgrade", async () => {
  const { FakeBackend, upgraderFor } = await import("./_fake.ts");
  const backend = new FakeBackend({ onSpawn: (c) => c.ready() });
  const upg = upgraderFor(backend, {
    onEvent: () => {
      throw new Error("broken logger");
    },
  });
  await upg.ready();
  await upg.upgrade();
  await upg.exit;
  assert.ok(backend.children[0].released);
});

test("generation, pid and runtime come from the manifest and the backend", async () => {
  const { backend, upg } = fakeUpgrader();
  assert.equal([upg.generation, upg.pid, upg.runtime, upg.hasParent()], [
    0,
    backend.pid(),
    "fake",
    false,
  ]);
  await upg.waitForParent(); // no parent: at once
  upg.stop();
});

test.run();
