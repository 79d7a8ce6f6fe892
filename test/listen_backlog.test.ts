// The accept queue of an upgrader's listener is the system's maximum
// (net.core.somaxconn), as with Go's net.Listen, in the first generation and
// after an upgrade: Node re-listens an adopted fd with 511 unless told
// otherwise, and thousands of clients reconnecting at a handover overflow
// that (bench/storm_bench.mjs). Read with `ss` (iproute2). Bun's node:net
// ignores the backlog (512, then 511): skipped there.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { RUNTIME, startFixture } from "./_helpers.ts";

/** The accept queue length `ss` reports for the listener on 127.0.0.1:port. */
function backlog(port: number): number {
  const out = execFileSync("ss", ["-ltnH", `sport = :${port}`], { encoding: "utf8" });
  const row = out.trim().split("\n").find((l) => l.includes(`127.0.0.1:${port}`));
  assert.ok(row, `no listener on ${port} in:\n${out}`);
  return Number(row!.trim().split(/\s+/)[2]);
}

(RUNTIME === "bun" ? test.skip : test)(
  "the listener's accept queue is net.core.somaxconn, before and after an upgrade",
  async () => {
    const somaxconn = Math.min(
      65_535,
      Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8")),
    );
    const f = startFixture("server.ts");
    try {
      const port = await f.port(0);
      await f.waitFor({ event: "ready", generation: 0 });
      assert.is(backlog(port), somaxconn);
      f.signal("SIGHUP");
      await f.waitFor({ event: "parent-gone", generation: 1 });
      assert.is(backlog(port), somaxconn);
    } finally {
      await f.killAll();
    }
  },
);

test.run();
