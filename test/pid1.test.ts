// The supervisor as PID 1 of a real PID namespace (what a container is
// without an engine): `unshare --user --map-root-user --pid --fork
// --mount-proc`. Pids in the generations' lines are the namespace's own.
import { readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { freePort, RUNTIME } from "./_helpers.ts";
import { Load } from "./_load.ts";
import { startSupervisor } from "./_supervisor.ts";

const UNSHARE = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"];

/** Host pids of the children of host pid `pid`. */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/)
      .filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The state letter of host pid `pid` (`Z` for a zombie), or `undefined` if it is gone. */
function state(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "")[0];
  } catch {
    return undefined;
  }
}

const only = RUNTIME === "node22" || RUNTIME === "bun" || RUNTIME === "deno";

if (only) {
  test("PID 1: 3 upgrades under load lose nothing, orphans are reaped, SIGTERM drains", async () => {
    const port = await freePort();
    const sv = startSupervisor(["--listen", `tcp:127.0.0.1:${port}`], {
      listen: [`tcp 127.0.0.1:${port}`],
      gens: { 1: { orphan: true } },
    }, { wrap: UNSHARE });
    let load: Load | undefined;
    let init: number | undefined;
    try {
      const first = await sv.ready(1);
      init = children(sv.f.child.pid!)[0]; // the supervisor, PID 1 inside
      assert.ok(init, "unshare forked the namespace's init");
      assert.match(await sv.logged(/holding tcp/), /tableflip\[1\]:/, "the supervisor is PID 1");
      const orphaned = await sv.f.waitFor({ event: "orphaned", generation: 1 });
      if (RUNTIME === "node22") {
        await sv.logged(/PID 1 on node, which cannot reap orphaned processes/);
      } else {
        await sv.logged(new RegExp(`reaped orphan pid ${orphaned.orphan}`));
      }
      load = new Load({ port }, { keepAlive: 2, fresh: 2 });
      await load.progress(20);
      let serving = first.pid;
      for (const generation of [2, 3, 4]) {
        process.kill(init!, "SIGHUP");
        const next = await sv.ready(generation);
        await sv.logged(new RegExp(`generation ${generation - 1} \\(pid ${serving}\\) exited`));
        await load.servedBy(next.pid, 10);
        serving = next.pid;
      }
      const report = await load.stop();
      assert.equal(report.errors, []);
      assert.is(report.failed, 0);
      if (RUNTIME !== "node22") {
        const zombies = children(init!).filter((pid) => state(pid) === "Z");
        const names = zombies.map((pid) => readFileSync(`/proc/${pid}/stat`, "utf8"));
        assert.equal(names, [], "no zombie under PID 1");
      }
      process.kill(init!, "SIGTERM"); // what docker stop sends
      const exit = await sv.f.exited;
      assert.is(exit.code, 0, "unshare passes on PID 1's exit code");
      assert.ok(sv.f.lines.some((l) => l.event === "drained" && l.pid === serving));
    } finally {
      await load?.stop();
      // Not killAll(): the lines carry the namespace's pids, not the host's.
      // Killing PID 1 ends the whole namespace.
      if (init && state(init)) process.kill(init, "SIGKILL");
      sv.f.child.kill("SIGKILL");
      await sv.f.exited;
    }
  });
}

test.run();
