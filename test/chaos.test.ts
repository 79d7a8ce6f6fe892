// Chaos and fault tests with real processes, real signals, 127.0.0.1 only: a
// child killed while it holds the inherited socket, busy keep-alive clients,
// the parent killed mid-upgrade, a long upgrade chain, grandchildren, and
// manifests naming fds that are not what they claim. What is pure logic
// (every forged manifest, a SIGHUP storm, a child dying at each step) runs on
// the fake backend: fake_manifest.test.ts and fake_failures.test.ts; hostile
// PID file paths run in-process on the real backend (pid_file.test.ts).
import { spawn } from "node:child_process";
import { openSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { test } from "uvu";
import * as assert from "uvu/assert";
// @ts-types="../scripts/runtimes.d.mts"
import { commandFor } from "../scripts/runtimes.mjs";
import {
  alive,
  get,
  type Line,
  ROOT,
  RUNTIME,
  startChaos,
  startFixture,
  tempDir,
  WAIT_LIMIT,
  waitForExit,
} from "./_helpers.ts";
import { Load } from "./_load.ts";

const FIXTURE = join(ROOT, "test", "fixtures", "chaos_server.ts");

// --- the child killed at each phase -----------------------------------------

// Killed before adopting: upgrade.test.ts; after ready, on probation: probation.test.ts.
for (
  const [phase, config, code] of [
    ["after adopting the listener", { gens: { 1: { killAt: "adopted" } } }, "ERR_CHILD_EXITED"],
  ] as const
) {
  test(`child SIGKILLed ${phase}: the parent keeps serving, 0 lost requests`, async () => {
    const f = startChaos(config);
    let load: Load | undefined;
    try {
      const port = await f.port();
      await f.waitFor({ event: "ready", generation: 0 });
      const parent = f.child.pid!;
      load = new Load({ port }, { keepAlive: 0, fresh: 4 });
      await load.servedBy(parent, 20);
      f.signal("SIGHUP");
      const killing = await f.waitFor({ event: "killing", generation: 1 });
      const failed = await f.waitFor({ event: "upgrade-failed", generation: 0 });
      assert.is(failed.code, code);
      assert.match(String(failed.message), /SIGKILL/);
      await waitForExit(killing.pid);
      const after = load.report.byPid[parent];
      await load.servedBy(parent, after + 50);
      const report = await load.stop();
      assert.equal(report.failedByKind, {}, `lost requests: ${JSON.stringify(report)}`);
      assert.is(report.failed, 0);
      assert.ok(report.ok >= 70);
      assert.not.ok(f.lines.some((l) => l.event === "exit-settled"));
      assert.is(JSON.parse((await get({ port })).body).pid, parent);
    } finally {
      await load?.stop();
      await f.killAll();
    }
  });
}

// --- busy keep-alive clients ------------------------------------------------

test("busy keep-alive clients are told to leave: the old process drains without forcing, 0 failed", async () => {
  const f = startChaos({});
  let load: Load | undefined;
  try {
    const port = await f.port();
    await f.waitFor({ event: "ready", generation: 0 });
    const parent = f.child.pid!;
    // Back-to-back requests on persistent connections: never idle, so only a
    // `Connection: close` answer can end them.
    load = new Load({ port }, { keepAlive: 4, fresh: 0 });
    await load.servedBy(parent, 50);
    f.signal("SIGHUP");
    const child = await f.waitFor({ event: "ready", generation: 1 });
    const drained = await f.waitFor({ event: "drained", generation: 0 });
    assert.is(drained.forced, 0);
    assert.is(drained.timedOut, false);
    await load.servedBy(child.pid, 50);
    const report = await load.stop();
    assert.equal(report.failedByKind, {}, `failed requests: ${JSON.stringify(report)}`);
  } finally {
    await load?.stop();
    await f.killAll();
  }
});

// --- the parent killed mid-upgrade -------------------------------------------

test("parent SIGKILLed mid-upgrade: the child still comes up, serves, and can upgrade itself", async () => {
  const pidFile = join(tempDir(), "app.pid");
  const f = startChaos({ pidFile, gens: { 1: { waitBeforeReady: true } } });
  try {
    const port = await f.port();
    await f.waitFor({ event: "ready", generation: 0 });
    f.signal("SIGHUP");
    const child = await f.waitFor({ event: "waiting-for-go", generation: 1 });
    f.signal("SIGKILL");
    const exit = await f.exited;
    assert.is(exit.signal, "SIGKILL");
    // waitForParent() resolves although the parent never saw the child ready.
    await f.waitFor({ event: "parent-gone", generation: 1 });
    f.signal("SIGUSR2", child.pid);
    await f.waitFor({ event: "ready", generation: 1 });
    assert.is(readFileSync(pidFile, "utf8"), `${child.pid}\n`);
    assert.is(JSON.parse((await get({ port })).body).pid, child.pid);
    f.signal("SIGHUP", child.pid);
    const third = await f.waitFor({ event: "ready", generation: 2 });
    await f.waitFor({ event: "parent-gone", generation: 2 });
    assert.is(JSON.parse((await get({ port })).body).pid, third.pid);
  } finally {
    await f.killAll();
  }
});

// --- many upgrades in a row --------------------------------------------------

/** The entries of /proc/<pid>/fd, as link targets. */
function fdTargets(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  return readdirSync(dir).map((fd) => {
    try {
      return readlinkSync(join(dir, fd));
    } catch {
      return "gone";
    }
  });
}

/** [pid, ppid, state] of every process, from /proc. */
function processTable(): [number, number, string][] {
  const rows: [number, number, string][] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      rows.push([Number(name), Number(ppid), state]);
    } catch {
      // Exited while we looked.
    }
  }
  return rows;
}

// Bounded for the five-runtime CI; bench/upgrade_chain.mjs does 100.
const CHAIN = 15;

test(`${CHAIN} upgrades in a row: fds and processes flat, no zombie`, async () => {
  const f = startChaos({});
  try {
    const port = await f.port();
    let current = await f.waitFor({ event: "ready", generation: 0 });
    const fdCounts: number[] = [];
    for (let gen = 1; gen <= CHAIN; gen++) {
      f.signal("SIGHUP", current.pid);
      const next = await f.waitFor({ event: "ready", generation: gen });
      await f.waitFor({ event: "parent-gone", generation: gen });
      await waitForExit(current.pid);
      // One request through the new generation, so its loop has turned since the parent left.
      assert.is(JSON.parse((await get({ port })).body).pid, next.pid);
      fdCounts.push(fdTargets(next.pid).length);
      current = next;
    }
    const pids = new Set([f.child.pid!, ...f.lines.map((l) => l.pid).filter((p) => p > 0)]);
    assert.is(pids.size, CHAIN + 1);
    assert.equal([...pids].filter(alive), [current.pid], "only the last generation is alive");
    // A generation whose parent already exited is reaped by init, on init's schedule; what
    // this library must not leave is an unreaped child of a live generation.
    const zombies = processTable().filter(([, ppid, state]) => state === "Z" && pids.has(ppid));
    assert.equal(zombies, [], "no zombie child of any generation");
    // Runtimes open a few fds lazily (io_uring, thread-pool pipes), so a generation may hold
    // one more or less than another; a leak would grow with every upgrade.
    const first = Math.max(...fdCounts.slice(0, 5));
    const last = Math.max(...fdCounts.slice(-5));
    assert.ok(
      last <= first,
      `open fds per generation: ${fdCounts.join(" ")}\nlast: ${fdTargets(current.pid).join(" ")}`,
    );
  } finally {
    await f.killAll();
  }
});

// --- grandchildren -----------------------------------------------------------

test("a grandchild spawned right after ready() holds no fd of the protocol: listeners, files, control", async () => {
  const dir = tempDir();
  const f = startFixture("server.ts", {
    FIXTURE: JSON.stringify({
      listen: ["tcp 127.0.0.1:0", `unix ${join(dir, "app.sock")}`],
      files: { audit: join(dir, "audit.log") },
      gens: { 1: { grandchild: true } },
    }),
  });
  let grandchild = 0;
  try {
    await f.waitFor({ event: "ready", generation: 0 });
    f.signal("SIGHUP");
    const line = await f.waitFor({ event: "grandchild", generation: 1 });
    grandchild = line.grandchild as number;
    const targets = Object.values(line.targets as Record<string, string>);
    // Two listeners, one file and the control socket, each a distinct open file.
    assert.is(new Set(targets).size, 4, JSON.stringify(line.targets));
    assert.is(targets.filter((t) => t.startsWith("socket:[")).length, 3);
    const held = fdTargets(grandchild);
    const leaked = targets.filter((t) => held.includes(t));
    assert.equal(leaked, [], `grandchild ${grandchild} fds: ${held.join(" ")}`);
  } finally {
    if (grandchild) {
      try {
        process.kill(grandchild, "SIGKILL");
      } catch { /* gone */ }
    }
    await f.killAll();
  }
});

// --- forged manifests and bad inherited fds ----------------------------------

/** Runs the chaos fixture once with extra stdio and env; resolves with its lines and exit code. */
function runOnce(
  env: Record<string, string>,
  extraStdio: ("pipe" | number)[] = [],
): Promise<{ lines: Line[]; code: number | null; stderr: string }> {
  const argv = commandFor(RUNTIME, FIXTURE);
  const child = spawn(argv[0], argv.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe", ...extraStdio],
  });
  let out = "";
  let stderr = "";
  child.stdout!.on("data", (d) => out += d);
  child.stderr!.on("data", (d) => stderr += d);
  const timer = setTimeout(() => child.kill("SIGKILL"), WAIT_LIMIT);
  return new Promise((resolve) => {
    child.once("close", (code) => {
      clearTimeout(timer);
      const lines = out.split("\n").filter(Boolean).map((text) => {
        try {
          return JSON.parse(text) as Line;
        } catch {
          return { pid: 0, event: "text", text } as Line;
        }
      });
      resolve({ lines, code, stderr });
    });
  });
}

const manifest = (fields: Record<string, unknown>) =>
  JSON.stringify({ v: 1, parentPid: 1, generation: 1, control: 3, fds: [], ...fields });
const tcpEntry = (fd: number) => ({
  fd,
  kind: "listener",
  network: "tcp",
  address: "127.0.0.1:0",
});

// One forged manifest through a real environment; every kind of forgery: fake_manifest.test.ts.
for (
  const [name, text, pattern] of [
    ["not JSON", "{not json", /not valid JSON/],
  ] as const
) {
  test(`forged manifest (${name}): ERR_MANIFEST, nothing adopted`, async () => {
    const { lines, code } = await runOnce({ TABLEFLIP_MANIFEST: text });
    const failed = lines.find((l) => l.event === "constructor-failed");
    assert.ok(failed, JSON.stringify(lines));
    assert.is(failed!.code, "ERR_MANIFEST");
    assert.is(failed!.name, "ManifestError");
    assert.match(String(failed!.message), pattern);
    assert.not.ok(lines.some((l) => l.event === "listening"));
    assert.is(code, 2);
  });
}

test("manifest naming closed fds: ERR_INHERITED_FD, nothing adopted", async () => {
  for (
    const text of [
      manifest({ control: 3, fds: [tcpEntry(40)] }), // listener fd 40 is not open
      manifest({ control: 41, fds: [] }), // control fd 41 is not open
    ]
  ) {
    const { lines, code } = await runOnce({ TABLEFLIP_MANIFEST: text }, ["pipe"]);
    const failed = lines.find((l) => l.event === "constructor-failed");
    assert.ok(failed, JSON.stringify(lines));
    assert.is(failed!.code, "ERR_INHERITED_FD");
    assert.match(String(failed!.message), /inherited fd 4[01]: .*not (open|an open socket)/);
    assert.not.ok(lines.some((l) => l.event === "listening"));
    assert.is(code, 2);
  }
});

test("manifest naming an fd of the wrong kind: ERR_INHERITED_FD, nothing adopted", async () => {
  const dir = tempDir();
  const file = openSync(join(dir, "not-a-socket"), "w+");
  // fd 3: a regular file claimed to be a TCP listener; fd 4: the control channel.
  const asFile = await runOnce(
    { TABLEFLIP_MANIFEST: manifest({ control: 4, fds: [tcpEntry(3)] }) },
    [file, "pipe"],
  );
  const failed = asFile.lines.find((l) => l.event === "constructor-failed");
  assert.ok(failed, JSON.stringify(asFile.lines));
  assert.is(failed!.code, "ERR_INHERITED_FD");
  assert.match(String(failed!.message), /inherited fd 3: tcp listener .* is not a socket/);
  assert.not.ok(asFile.lines.some((l) => l.event === "listening"));

  // fd 4: a connected stream (not a listening TCP socket) claimed to be a listener. Depending
  // on the runtime it is a socketpair (fails at adoption) or a pipe (fails the check).
  const asStream = await runOnce(
    { TABLEFLIP_MANIFEST: manifest({ control: 3, fds: [tcpEntry(4)] }) },
    ["pipe", "pipe"],
  );
  const rejected = asStream.lines.find((l) =>
    l.event === "constructor-failed" || l.event === "listen-failed"
  );
  assert.ok(rejected, JSON.stringify(asStream.lines) + asStream.stderr);
  assert.is(rejected!.code, "ERR_INHERITED_FD");
  assert.match(String(rejected!.message), /inherited fd 4/);
  assert.not.ok(asStream.lines.some((l) => l.event === "listening"));
  assert.ok(asStream.code === 2 || asStream.code === 3);
});

test.run();
