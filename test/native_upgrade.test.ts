// Upgrades of native servers (serveDeno, serveBun) under a small bounded
// load, with real processes and signals: native -> native twice (so also an
// upgrade *from* a native-served, inherited socket), the portable mode, and
// across runtimes. Bun and Deno only.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
// @ts-types="../scripts/runtimes.d.mts"
import { commandFor } from "../scripts/runtimes.mjs";
import { type Fixture, get, probe, ROOT, RUNTIME, startFixture, waitForExit } from "./_helpers.ts";
import { Load, loadFor, type LoadMode } from "./_load.ts";

const FIXTURE = join(ROOT, "test", "fixtures", "native_server.ts");

/** Upgrades generation `from` while the load runs; resolves with the next generation's ready line. */
async function upgradeUnderLoad(f: Fixture, load: Load, from: number, pid: number) {
  await f.waitFor({ event: "parent-gone", generation: from }).catch(() => {});
  await load.progress(100);
  f.signal("SIGHUP", pid);
  const next = await f.waitFor({ event: "ready", generation: from + 1 });
  await f.waitFor({ event: "drained", generation: from });
  await waitForExit(pid);
  await load.progress(100);
  return next;
}

async function run(
  config: Record<string, unknown>,
  mode: LoadMode,
  upgrades: number,
  expect: { native: boolean | boolean[]; runtimes: string[] },
  check?: (f: Fixture) => void,
): Promise<void> {
  const f = startFixture("native_server.ts", { NATIVE_FIXTURE: JSON.stringify(config) });
  let load: Load | undefined;
  try {
    const first = await f.waitFor({ event: "ready", generation: 0 });
    const port = await f.port(0);
    load = new Load({ port }, loadFor(mode));
    let pid = first.pid;
    for (let g = 0; g < upgrades; g++) {
      const next = await upgradeUnderLoad(f, load, g, pid);
      pid = next.pid;
    }
    const report = await load.stop();
    load = undefined;
    const listening = f.lines.filter((l) => l.event === "listening");
    assert.is(listening.length, upgrades + 1);
    for (const [g, l] of listening.entries()) {
      assert.is(l.port, port, `generation ${g} reports the real port`);
      const native = Array.isArray(expect.native)
        ? expect.native[Math.min(g, expect.native.length - 1)]
        : expect.native;
      assert.is(l.native, native, `generation ${g} native: ${JSON.stringify(f.lines)}`);
      assert.is(l.runtime, expect.runtimes[Math.min(g, expect.runtimes.length - 1)]);
    }
    assert.is(report.failed, 0, `failed requests: ${report.errors.join("; ")}`);
    assert.ok(report.ok > 200 * upgrades, `only ${report.ok} requests`);
    assert.equal(
      report.pids.slice(-1),
      [pid],
      `the last generation serves at the end (pids seen: ${report.pids})`,
    );
    assert.is(JSON.parse((await get({ port })).body).pid, pid);
    assert.is(await probe(port), "connected");
    check?.(f);
  } finally {
    await load?.stop();
    await f.killAll();
  }
}

const OWN = RUNTIME === "bun" ? "bun" : "deno";

if (RUNTIME !== "bun" && RUNTIME !== "deno") {
  console.log(`native_upgrade: not registered on ${RUNTIME}: native servers are Bun and Deno only`);
} else {
  for (const mode of ["keep-alive", "close"] as const) {
    test(`native -> native -> native on ${OWN} under ${mode} load: 0 failed requests`, async () => {
      await run({}, mode, 2, { native: true, runtimes: [OWN] });
    });
    test(`portable mode (native: false) on ${OWN} under ${mode} load: 0 failed requests`, async () => {
      await run({ native: false }, mode, 1, { native: false, runtimes: [OWN] });
    });
  }

  const other = OWN === "deno" ? "bun" : "deno";
  test(`cross-runtime: native ${OWN} -> native ${other} under keep-alive load: 0 failed`, async () => {
    await run({ command: commandFor(other, FIXTURE) }, "keep-alive", 1, {
      native: true,
      runtimes: [OWN, other],
    });
  });

  test(`native ${OWN} -> Node 22 (node:http on the same socket) under keep-alive load: 0 failed`, async () => {
    await run({ command: commandFor("node22", FIXTURE) }, "keep-alive", 1, {
      native: [true, false],
      runtimes: [OWN, "node"],
    });
  });

  test(`a failed probe undoes the transplant: node:http serves the same socket, 0 failed`, async () => {
    // probeTimeout 0: the probe gives up at once, as if the runtime never accepted.
    await run({ probeTimeout: 0 }, "keep-alive", 1, { native: false, runtimes: [OWN] }, (f) => {
      const fallbacks = f.lines.filter((l) => l.event === "native" && l.type === "native-fallback");
      assert.is(fallbacks.length, 2);
      for (const l of fallbacks) assert.match(String(l.reason), /probe never reached/);
      assert.not.ok(f.lines.some((l) => l.type === "native-serving"));
    });
  });
}

test.run();
