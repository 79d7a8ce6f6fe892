// The accept queue of an upgrader's listener is the system's maximum
// (net.core.somaxconn), as with Go's net.Listen, in the first generation and
// after an upgrade: Node re-listens an adopted fd with 511 unless told
// otherwise, and thousands of clients reconnecting at a handover overflow
// that (bench/storm_bench.mjs). Bun's node:net ignores the backlog (512):
// its backend sets the queue through libc. Read with `ss` (iproute2).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { startFixture } from "./_helpers.ts";
import { startSupervisor, waitForStderr } from "./_supervisor.ts";

/** The accept queue length `ss` reports for the listener on 127.0.0.1:port. */
function backlog(port: number): number {
  const out = execFileSync("ss", ["-ltnH", `sport = :${port}`], { encoding: "utf8" });
  const row = out.trim().split("\n").find((l) => l.includes(`127.0.0.1:${port}`));
  assert.ok(row, `no listener on ${port} in:\n${out}`);
  return Number(row!.trim().split(/\s+/)[2]);
}

const somaxconn = () =>
  Math.min(65_535, Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8")));

// The supervisor holds its sockets with the same queue (on Node through the binder, on Bun and
// Deno through libc), before any generation has adopted them: connections that arrive at
// start-up or while a generation restarts wait there.
test("the supervisor's held socket has the largest accept queue before any generation", async () => {
  const sv = startSupervisor(["--listen", "tcp:127.0.0.1:0"], {}, { command: ["sleep", "30"] });
  try {
    const held = await waitForStderr(sv.f, /holding tcp 127\.0\.0\.1:(\d+)/);
    const port = Number(/:(\d+) \(fd/.exec(held)![1]);
    assert.is(backlog(port), somaxconn());
  } finally {
    await sv.f.killAll();
  }
});

test(
  "the listener's accept queue is net.core.somaxconn, before and after an upgrade",
  async () => {
    const max = somaxconn();
    const f = startFixture("server.ts");
    try {
      const port = await f.port(0);
      await f.waitFor({ event: "ready", generation: 0 });
      assert.is(backlog(port), max);
      f.signal("SIGHUP");
      await f.waitFor({ event: "parent-gone", generation: 1 });
      assert.is(backlog(port), max);
    } finally {
      await f.killAll();
    }
  },
);

test.run();
