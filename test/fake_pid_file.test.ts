// The PID file on the fake backend: written at ready() through a temp file
// and a rename, resolved against the initial working directory, never
// through a symlink, and moved to the new generation by an upgrade.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { childUpgrader, fakeUpgrader, readyParent, rejection } from "./_fake.ts";
import type { FakeFiles } from "../src/testing/fake_files.ts";

test("ready() writes the pid through a temp file and a rename; no temp file is left", async () => {
  const { backend, upg } = fakeUpgrader({ pidFile: "/app/app.pid" });
  await upg.ready();
  const files = backend.system.files;
  assert.is(files.read("/app/app.pid"), `${backend.pid()}\n`);
  assert.equal(files.list("/app"), ["/app/app.pid"]);
  const [create, rename] = backend.calls.filter((c) => c === "createFile" || c === "rename");
  assert.equal([create, rename], ["createFile", "rename"]);
  upg.stop();
});

test("a relative pidFile is resolved against the initial working directory", async () => {
  const { backend, upg } = fakeUpgrader({ pidFile: "run/rel.pid" }, { cwd: "/srv/app" });
  backend.system.files.mkdir("/srv/app/run");
  await upg.ready();
  assert.is(backend.system.files.read("/srv/app/run/rel.pid"), `${backend.pid()}\n`);
  upg.stop();
});

test("the next generation's ready() replaces the pid with its own", async () => {
  const { backend, upg } = await readyParent({ pidFile: "/app/app.pid" });
  const upgrading = upg.upgrade();
  const child = await backend.nextChild();
  const next = childUpgrader(child, { pidFile: "/app/app.pid" });
  await next.upg.ready();
  await upgrading;
  assert.is(backend.system.files.read("/app/app.pid"), `${child.pid}\n`);
});

for (const how of ["exits", "is stopped"] as const) {
  test(`a child that wrote the PID file and then ${how} before its ready line: the parent's pid is put back`, async () => {
    const { backend, upg } = await readyParent({ pidFile: "/app/app.pid" });
    const upgrading = upg.upgrade();
    const child = await backend.nextChild();
    // The child's ready() writes the PID file first, then the ready line; it dies in between.
    await backend.system.files.write("/app/app.pid", `${child.pid}\n`);
    if (how === "exits") child.exit(1);
    else upg.stop();
    const error = await rejection(upgrading);
    assert.is(error.code, how === "exits" ? "ERR_CHILD_EXITED" : "ERR_STOPPED");
    assert.is(backend.system.files.read("/app/app.pid"), `${backend.pid()}\n`);
  });
}

for (
  const [name, path, setup, why] of [
    ["in a missing directory", "/app/missing/app.pid", () => {}, /ENOENT/],
    [
      "under a regular file",
      "/app/file/app.pid",
      (f: FakeFiles) => f.write("/app/file", ""),
      /ENOTDIR/,
    ],
  ] as const
) {
  test(`a PID file ${name}: ready() fails with ERR_PID_FILE naming the path and cause`, async () => {
    const { backend, upg } = fakeUpgrader({ pidFile: path });
    setup(backend.system.files);
    const error = await rejection(upg.ready());
    assert.is(error.code, "ERR_PID_FILE");
    assert.ok(error.message.includes(path), error.message);
    assert.match(error.message, why);
    assert.is(backend.system.files.read(path), undefined);
    assert.is((await rejection(upg.upgrade())).code, "ERR_NOT_READY", "not ready after all");
    upg.stop();
  });
}

test("a failing rename leaves no temp file behind", async () => {
  const { backend, upg } = fakeUpgrader({ pidFile: "/app/app.pid" });
  backend.faults.inject("rename", new Error("EXDEV"));
  const error = await rejection(upg.ready());
  assert.is(error.code, "ERR_PID_FILE");
  assert.equal(backend.system.files.list("/app"), []);
  assert.ok(backend.calls.includes("removeFile"));
  await upg.ready(); // the fault was one-shot: a retry works
  assert.is(backend.system.files.read("/app/app.pid"), `${backend.pid()}\n`);
  upg.stop();
});

test("a symlink at the path is replaced by a regular file; its target is untouched", async () => {
  const { backend, upg } = fakeUpgrader({ pidFile: "/app/app.pid" });
  const files = backend.system.files;
  files.write("/app/victim.txt", "precious\n");
  files.symlink("/app/app.pid", "/app/victim.txt");
  await upg.ready();
  assert.equal(files.entry("/app/app.pid"), { type: "file", data: `${backend.pid()}\n` });
  assert.is(files.read("/app/victim.txt"), "precious\n");
  upg.stop();
});

test("an upgrade whose child cannot write the PID file fails; the parent's pid stays", async () => {
  const { backend, upg } = await readyParent({ pidFile: "/app/app.pid" });
  const upgrading = upg.upgrade();
  const child = await backend.nextChild();
  const next = childUpgrader(child, { pidFile: "/app/no/x.pid" });
  assert.is((await rejection(next.upg.ready())).code, "ERR_PID_FILE");
  child.exit(4); // what a server does when ready() fails
  assert.is((await rejection(upgrading)).code, "ERR_CHILD_EXITED");
  assert.is(backend.system.files.read("/app/app.pid"), `${backend.pid()}\n`);
});

test.run();
