// `tableflip run --workers N`: every generation is N processes on the same
// held sockets. Real processes, sockets and signals; the supervisor and the
// workers run on the suite's runtime.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Line, RUNTIME, waitForExit } from "./_helpers.ts";
import { Load } from "./_load.ts";
import { runCli, startSupervisor, type Supervised } from "./_supervisor.ts";

const only = RUNTIME === "node22" || RUNTIME === "bun" || RUNTIME === "deno";

/** The `ready` lines of generation `n`'s `count` workers, by worker index. */
async function workersReady(sv: Supervised, n: number, count = 2): Promise<Line[]> {
  const lines: Line[] = [];
  for (let w = 0; w < count; w++) {
    lines.push(await sv.f.waitFor({ event: "ready", generation: n, worker: w }));
  }
  return lines;
}

const twoWorkers = (
  extra: string[] = [],
) => ["--listen", "tcp:127.0.0.1:0", "--workers", "2", ...extra];

if (only) {
  for (const mode of ["all at once", "rolling"] as const) {
    test(`2 workers all serve; an upgrade (${mode}) under load loses nothing`, async () => {
      const sv = startSupervisor(twoWorkers(mode === "rolling" ? ["--rolling"] : []), {
        listen: ["tcp 127.0.0.1:0"],
      });
      let load: Load | undefined;
      try {
        const old = await workersReady(sv, 1);
        const port = await sv.f.port(1);
        load = new Load({ port }, { keepAlive: 2, fresh: 4 });
        for (const w of old) await load.servedBy(w.pid, 1); // the kernel spreads connections
        const upgraded = await runCli(["upgrade", "--control", sv.control]);
        assert.is(upgraded.code, 0, upgraded.stderr);
        const next = await workersReady(sv, 2);
        for (const w of old) await waitForExit(w.pid);
        for (const w of next) await load.servedBy(w.pid, 1);
        const report = await load.stop();
        assert.equal(report.errors, []);
        assert.is(report.failed, 0);
        if (mode === "rolling") {
          // Never more than N+1: worker 0's old process is gone before worker 1's new one starts.
          const log = sv.f.stderr.join("\n");
          const gone = log.indexOf(`generation 1 worker 0 (pid ${old[0].pid}) exited`);
          const started = log.indexOf("generation 2 worker 1 (pid");
          assert.ok(gone >= 0 && started > gone, log);
        }
      } finally {
        await load?.stop();
        await sv.f.killAll();
      }
    });
  }

  test("each worker knows its index and the count; status lists them", async () => {
    const sv = startSupervisor(twoWorkers(), { listen: ["tcp 127.0.0.1:0"] });
    try {
      const ready = await workersReady(sv, 1);
      assert.equal(ready.map((l) => l.worker), [0, 1]);
      const status = JSON.parse(
        (await runCli(["status", "--json", "--control", sv.control])).stdout,
      );
      assert.is(status.workers, 2);
      assert.equal(
        status.generations.map((g: Line) => [g.generation, g.worker, g.pid, g.state]).sort(),
        ready.map((l) => [1, l.worker, l.pid, "serving"]).sort(),
      );
    } finally {
      await sv.f.killAll();
    }
  });

  test("a killed worker is replaced; the other keeps serving", async () => {
    const sv = startSupervisor(twoWorkers(), { listen: ["tcp 127.0.0.1:0"] });
    try {
      const [w0, w1] = await workersReady(sv, 1);
      process.kill(w1.pid, "SIGKILL");
      const replaced = await sv.f.waitFor({ event: "ready", generation: 2, worker: 1 });
      assert.is.not(replaced.pid, w1.pid);
      await sv.logged(
        new RegExp(`generation 1 worker 1 \\(pid ${w1.pid}\\) was killed by SIGKILL`),
      );
      assert.ok(
        !sv.f.stderr.some((l) => l.includes(`pid ${w0.pid}) exited`)),
        "worker 0 untouched",
      );
    } finally {
      await sv.f.killAll();
    }
  });

  test("a worker that hangs before ready fails the upgrade; the old generation serves intact", async () => {
    const sv = startSupervisor(twoWorkers(["--upgrade-timeout", "3s"]), {
      listen: ["tcp 127.0.0.1:0"],
      gens: { 2: { workers: { 1: { mode: "hang" } } } },
    });
    try {
      const old = await workersReady(sv, 1);
      const result = await runCli(["upgrade", "--control", sv.control]);
      assert.is(result.code, 1);
      assert.match(result.stderr, /ERR_CHILD_TIMEOUT/);
      const status = JSON.parse(
        (await runCli(["status", "--json", "--control", sv.control])).stdout,
      );
      assert.equal(
        status.generations.map((g: Line) => g.pid).sort(),
        old.map((l) => l.pid).sort(),
        "the new workers are gone, the old ones serve",
      );
    } finally {
      await sv.f.killAll();
    }
  });

  test("a crash loop in one worker slot stops its restarts; the other serves on", async () => {
    const sv = startSupervisor(twoWorkers(["--max-restarts", "1"]), {
      listen: ["tcp 127.0.0.1:0"],
      workers: { 1: { mode: "exit", code: 9 } },
    });
    try {
      const w0 = await sv.f.waitFor({ event: "ready", worker: 0 });
      assert.match(await sv.logged(/worker 1: crash loop/), /the others keep serving/);
      const status = JSON.parse(
        (await runCli(["status", "--json", "--control", sv.control])).stdout,
      );
      assert.equal(status.generations.map((g: Line) => g.pid), [w0.pid]);
      process.kill(sv.f.child.pid!, "SIGTERM");
      assert.is((await sv.f.exited).code, 0);
    } finally {
      await sv.f.killAll();
    }
  });

  test("SIGTERM drains every worker", async () => {
    const sv = startSupervisor(twoWorkers(), { listen: ["tcp 127.0.0.1:0"] });
    try {
      const ready = await workersReady(sv, 1);
      process.kill(sv.f.child.pid!, "SIGTERM");
      assert.is((await sv.f.exited).code, 0);
      for (const w of ready) {
        assert.ok(sv.f.lines.some((l) => l.event === "drained" && l.pid === w.pid));
      }
    } finally {
      await sv.f.killAll();
    }
  });
}

test.run();
