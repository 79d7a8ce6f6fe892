// Deno permissions: the documented minimal set is enough for an upgrade (and
// is passed on to the next generation), and each missing permission fails
// with an error naming the flag. Runs Deno processes whatever the suite runtime.
import { existsSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { libcCandidates } from "../runtimes/libc/symbols.ts";
import { Fixture, get, ROOT, tempDir } from "./_helpers.ts";
// @ts-types="../scripts/runtimes.d.mts"
import { runtime } from "../scripts/runtimes.mjs";

const DENO = runtime("deno").exe;
const DENO_REAL = realpathSync(DENO);
const SERVER = join(ROOT, "test", "fixtures", "server.ts");
/** Where libc is on this machine, spelled as tableflip tries it (Deno matches the literal path). */
const LIBC = libcCandidates(process.arch === "arm64" ? "aarch64" : "x86_64").find((p) =>
  existsSync(p)
)!;

function deno(flags: string[], config: Record<string, unknown>): Fixture {
  return new Fixture([DENO, "run", "--quiet", ...flags, SERVER], {
    FIXTURE: JSON.stringify(config),
  });
}

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
}

test("the minimal permissions are enough to upgrade, and the new generation gets the same", async () => {
  const dir = tempDir("tableflip-deno-perm-");
  const pidFile = join(dir, "app.pid");
  const flags = [
    "--allow-env",
    `--allow-ffi=${LIBC}`,
    `--allow-run=${DENO_REAL}`,
    "--allow-net=127.0.0.1",
    `--allow-read=${dir}`,
    `--allow-write=${dir}`,
  ];
  const f = deno(flags, { pidFile });
  try {
    const port = await f.port();
    await f.waitFor({ event: "ready", generation: 0 });
    f.signal("SIGHUP");
    const child = await f.waitFor({ event: "ready", generation: 1 });
    assert.ok(f.lines.some((l) => l.event === "listening" && l.generation === 1 && l.inherited));
    assert.equal(cmdline(child.pid), [DENO_REAL, "run", "--quiet", ...flags, SERVER]);
    await f.waitFor({ event: "parent-gone", generation: 1 });
    assert.is(readFileSync(pidFile, "utf8").trim(), String(child.pid));
    assert.is(JSON.parse((await get({ port })).body).pid, child.pid);
  } finally {
    await f.killAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("without --allow-ffi the Upgrader fails at construction with a PermissionError naming it", async () => {
  const f = deno(["--allow-env", "--allow-net=127.0.0.1"], {});
  try {
    const failed = await f.waitFor({ event: "constructor-failed" });
    assert.is(failed.code, "ERR_PERMISSION");
    assert.is(failed.name, "PermissionError");
    assert.match(String(failed.message), "needs --allow-ffi=");
    assert.is((await f.exited).code, 2);
  } finally {
    await f.killAll();
  }
});

test("without --allow-env for the manifest the Upgrader fails naming --allow-env", async () => {
  const f = deno(["--allow-env=FIXTURE", `--allow-ffi=${LIBC}`], {});
  try {
    const failed = await f.waitFor({ event: "constructor-failed" });
    assert.is(failed.code, "ERR_PERMISSION");
    assert.match(String(failed.message), "--allow-env=TABLEFLIP_MANIFEST");
  } finally {
    await f.killAll();
  }
});

test("without --allow-run an upgrade fails naming --allow-run; the process keeps serving", async () => {
  const f = deno(["--allow-env", `--allow-ffi=${LIBC}`, "--allow-net=127.0.0.1"], {});
  try {
    const port = await f.port();
    await f.waitFor({ event: "ready", generation: 0 });
    f.signal("SIGHUP");
    const failed = await f.waitFor({ event: "upgrade-failed" });
    assert.is(failed.code, "ERR_SPAWN");
    assert.match(String(failed.message), `needs --allow-run=${DENO_REAL}`);
    assert.is(JSON.parse((await get({ port })).body).pid, f.child.pid);
  } finally {
    await f.killAll();
  }
});

test("with --allow-env for single variables only, an upgrade fails naming --allow-env", async () => {
  const flags = [
    "--allow-env=FIXTURE,TABLEFLIP_MANIFEST",
    `--allow-ffi=${LIBC}`,
    `--allow-run=${DENO_REAL}`,
    "--allow-net=127.0.0.1",
  ];
  const f = deno(flags, {});
  try {
    await f.waitFor({ event: "ready", generation: 0 });
    f.signal("SIGHUP");
    const failed = await f.waitFor({ event: "upgrade-failed" });
    assert.is(failed.code, "ERR_PERMISSION");
    assert.match(String(failed.message), "needs --allow-env");
  } finally {
    await f.killAll();
  }
});

test.run();
