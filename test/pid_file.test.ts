// The PID file on the real backend: written at ready(), atomically, resolved
// against the initial working directory, never through a symlink, and moved
// to the new generation by an upgrade. One test spawns (the handover); the
// others run an Upgrader in this process on the real file system. The logic
// around it (probation restore, a child that cannot write it, faults at each
// step) is in fake_pid_file.test.ts and fake_probation.test.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  watch,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { type TableflipError, Upgrader } from "../mod.ts";
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

/** ready() of an Upgrader in this process (real backend) with `pidFile`; the error, if any. */
async function readyWith(pidFile: string): Promise<TableflipError | undefined> {
  const upg = new Upgrader({ pidFile });
  try {
    await upg.ready();
    return undefined;
  } catch (error) {
    return error as TableflipError;
  } finally {
    upg.stop();
  }
}

test("a relative pidFile is resolved against the initial working directory", async () => {
  const dir = tempDir();
  const elsewhere = tempDir();
  const initial = process.cwd();
  process.chdir(dir);
  const upg = new Upgrader({ pidFile: "rel.pid" });
  try {
    process.chdir(elsewhere);
    await upg.ready();
  } finally {
    process.chdir(initial);
    upg.stop();
  }
  assert.is(readFileSync(join(dir, "rel.pid"), "utf8"), `${process.pid}\n`);
  assert.not.ok(existsSync(join(elsewhere, "rel.pid")));
});

for (
  const [name, path] of [
    ["in a missing directory", (dir: string) => join(dir, "missing", "app.pid")],
    ["under a regular file (ENOTDIR)", (dir: string) => {
      writeFileSync(join(dir, "file"), "");
      return join(dir, "file", "app.pid");
    }],
    // Root ignores permission bits, but not a kernel filesystem that refuses new files.
    ["in a directory even root cannot write (sysfs)", () => "/sys/kernel/tableflip-test.pid"],
  ] as const
) {
  test(`PID file ${name}: ready() fails with ERR_PID_FILE naming the path`, async () => {
    const pidFile = path(tempDir());
    const failed = await readyWith(pidFile);
    assert.ok(failed, "ready() succeeded");
    assert.is(failed!.code, "ERR_PID_FILE");
    assert.is(failed!.name, "PidFileError");
    assert.ok(failed!.message.includes(pidFile), failed!.message);
    assert.not.ok(existsSync(pidFile));
  });
}

test("PID file path that is a symlink: replaced by a regular file, nothing written through it", async () => {
  const dir = tempDir();
  const victim = join(dir, "victim.txt");
  writeFileSync(victim, "precious\n");
  const dangling = join(dir, "nowhere.txt");
  const pidFile = join(dir, "app.pid");
  for (const target of [victim, dangling]) {
    symlinkSync(target, pidFile);
    assert.is(await readyWith(pidFile), undefined);
    assert.not.ok(lstatSync(pidFile).isSymbolicLink(), "the link itself was replaced");
    assert.is(readFileSync(pidFile, "utf8"), `${process.pid}\n`);
    rmSync(pidFile); // so that the next link can be made
  }
  assert.is(readFileSync(victim, "utf8"), "precious\n");
  assert.not.ok(existsSync(dangling));
  assert.equal(readdirSync(dir).sort(), ["victim.txt"], "no temp file left behind");
});

test.run();
