// `tableflip run`: the supervisor holds the sockets, its pid never changes,
// generations come and go on the same sockets. Real processes, signals and
// sockets; the supervisor and the generations run on the suite's runtime.
import { test as uvuTest } from "uvu";
import * as assert from "uvu/assert";
import { alive, freePort, get, type Line, RUNTIME, waitForExit } from "./_helpers.ts";
import { Load } from "./_load.ts";
import { runCli, startSupervisor } from "./_supervisor.ts";

const body = async (port: number) => JSON.parse((await get({ port })).body);

// The supervisor on Node, Bun and Deno (one Node is enough: its code path is the same on 20 and 24).
const test = RUNTIME === "node20" || RUNTIME === "node24" ? uvuTest.skip : uvuTest;

test("SIGHUP and `tableflip upgrade` start a new generation; the supervisor's pid stays", async () => {
  const port = await freePort();
  const sv = startSupervisor(["--listen", `tcp:127.0.0.1:${port}`], {
    listen: [`tcp 127.0.0.1:${port}`],
  });
  let load: Load | undefined;
  try {
    const first = await sv.ready(1);
    assert.is((await body(port)).pid, first.pid);
    load = new Load({ port }, { keepAlive: 2, fresh: 2 });
    await load.progress(20);
    process.kill(sv.f.child.pid!, "SIGHUP");
    const second = await sv.ready(2);
    await sv.f.waitFor({ event: "drained", generation: 1 });
    await waitForExit(first.pid);
    const upgraded = await runCli(["upgrade", "--control", sv.control]);
    assert.is(upgraded.code, 0, upgraded.stderr);
    assert.match(upgraded.stdout, /upgraded: generation 3 \(pid \d+\) serves/);
    const third = await sv.ready(3);
    await waitForExit(second.pid);
    await load.servedBy(third.pid, 10);
    const report = await load.stop();
    assert.equal(report.errors, []);
    assert.ok(report.pids.includes(first.pid) && report.pids.includes(third.pid));
    assert.ok(alive(sv.f.child.pid!), "the supervisor is still there");
    const status = await runCli(["status", "--json", "--control", sv.control]);
    assert.is(status.code, 0, status.stderr);
    const report2 = JSON.parse(status.stdout);
    assert.is(report2.pid, sv.f.child.pid);
    assert.is(report2.current, 3);
    assert.equal(
      report2.generations.map((g: Line) => [g.generation, g.pid, g.state]),
      [[3, third.pid, "serving"]],
    );
    assert.equal(report2.listeners, [{
      network: "tcp",
      address: `127.0.0.1:${port}`,
      source: "listen",
    }]);
  } finally {
    await load?.stop();
    await sv.f.killAll();
  }
});

for (
  const [name, gen2, args, code] of [
    ["exits before ready", { mode: "exit", code: 3 }, [], "ERR_CHILD_EXITED"],
    ["hangs before ready", { mode: "hang" }, ["--upgrade-timeout", "3s"], "ERR_CHILD_TIMEOUT"],
  ] as const
) {
  test(`an upgrade whose generation ${name} fails; the serving one goes on`, async () => {
    const sv = startSupervisor(["--listen", "tcp:127.0.0.1:0", ...args], {
      listen: ["tcp 127.0.0.1:0"],
      gens: { 2: gen2 },
    });
    try {
      const first = await sv.ready(1);
      const port = await sv.f.port(1);
      const result = await runCli(["upgrade", "--control", sv.control]);
      assert.is(result.code, 1);
      assert.match(result.stderr, new RegExp(`upgrade failed \\[${code}\\]`));
      assert.match(await sv.logged(/upgrade \(tableflip upgrade\) failed/), /keeps serving/);
      assert.is((await body(port)).pid, first.pid);
      // The next upgrade works.
      process.kill(sv.f.child.pid!, "SIGHUP");
      const third = await sv.ready(3);
      await waitForExit(first.pid);
      assert.is((await body(port)).pid, third.pid);
    } finally {
      await sv.f.killAll();
    }
  });
}

test("an upgrade asked for while the first generation starts runs once it serves", async () => {
  const sv = startSupervisor(["--listen", "tcp:127.0.0.1:0"], {
    listen: ["tcp 127.0.0.1:0"],
    gens: { 1: { readyAfter: 500 } },
  });
  try {
    await sv.f.waitFor({ event: "listening", generation: 1 });
    process.kill(sv.f.child.pid!, "SIGHUP");
    const first = await sv.ready(1);
    const second = await sv.ready(2);
    await waitForExit(first.pid);
    assert.is((await body(await sv.f.port(1))).pid, second.pid);
  } finally {
    await sv.f.killAll();
  }
});

test("a generation's own upgrade() asks the supervisor", async () => {
  const sv = startSupervisor(["--listen", "tcp:127.0.0.1:0"], { listen: ["tcp 127.0.0.1:0"] });
  try {
    const first = await sv.ready(1);
    process.kill(first.pid, "SIGHUP"); // the fixture calls upg.upgrade() on SIGHUP
    await sv.f.waitFor({ event: "upgrade-ok", generation: 1 });
    await sv.ready(2);
    await waitForExit(first.pid);
    assert.ok(alive(sv.f.child.pid!));
  } finally {
    await sv.f.killAll();
  }
});

test("SIGTERM drains every generation; the exit code is the serving one's", async () => {
  const cases = [[{ exitCode: 7 }, 7], [{ termDefault: true }, 128 + 15]] as const;
  for (const [config, expected] of cases) {
    const sv = startSupervisor(["--listen", "tcp:127.0.0.1:0"], {
      listen: ["tcp 127.0.0.1:0"],
      ...config,
    });
    try {
      const first = await sv.ready(1);
      if ("termDefault" in config) await sv.f.waitFor({ event: "term-default" });
      process.kill(sv.f.child.pid!, "SIGTERM");
      const exit = await sv.f.exited;
      assert.is(exit.code, expected);
      if (!("termDefault" in config)) {
        assert.ok(sv.f.lines.some((l) => l.event === "drained" && l.pid === first.pid));
      }
      assert.ok(!alive(first.pid));
    } finally {
      await sv.f.killAll();
    }
  }
});

test("a generation killed while serving is restarted on the same socket; clients wait", async () => {
  const sv = startSupervisor(["--listen", "tcp:127.0.0.1:0"], { listen: ["tcp 127.0.0.1:0"] });
  try {
    const first = await sv.ready(1);
    const port = await sv.f.port(1);
    process.kill(first.pid, "SIGKILL");
    await waitForExit(first.pid);
    // Connect while nothing accepts: the connection waits in the backlog.
    const answered = await body(port);
    const second = await sv.ready(2);
    assert.is(answered.pid, second.pid);
    assert.match(await sv.logged(/restarting in \d+ ms/), /same sockets/);
  } finally {
    await sv.f.killAll();
  }
});

test("a crash loop ends the supervisor with exit code 1 and says why", async () => {
  const sv = startSupervisor(["--listen", "tcp:127.0.0.1:0", "--max-restarts", "2"], {
    listen: ["tcp 127.0.0.1:0"],
    mode: "exit",
    code: 5,
  });
  try {
    const exit = await sv.f.exited;
    assert.is(exit.code, 1);
    assert.match(await sv.logged(/crash loop/), /3 deaths .*ERR_CRASH_LOOP/);
    assert.is(sv.f.lines.filter((l) => l.event === "exiting-before-ready").length, 3);
  } finally {
    await sv.f.killAll();
  }
});

test("listening on an address the supervisor does not hold fails with what to add", async () => {
  const port = await freePort();
  const sv = startSupervisor(["--listen", "tcp:127.0.0.1:0", "--max-restarts", "0"], {
    listen: [`tcp 127.0.0.1:${port}`],
  });
  try {
    const failed = await sv.f.waitFor({ event: "listen-failed" });
    assert.is(failed.code, "ERR_LISTENER_NOT_HELD");
    assert.match(String(failed.message), new RegExp(`add --listen tcp:127.0.0.1:${port}`));
    assert.is((await sv.f.exited).code, 1);
  } finally {
    await sv.f.killAll();
  }
});

test("an upgrade may start while older generations drain; --max-draining bounds them", async () => {
  const sv = startSupervisor(["--listen", "tcp:127.0.0.1:0", "--max-draining", "1"], {
    listen: ["tcp 127.0.0.1:0"],
    hold: true, // after exit settles, wait for SIGTERM before draining
  });
  try {
    const first = await sv.ready(1);
    assert.is((await runCli(["upgrade", "--control", sv.control])).code, 0);
    await sv.f.waitFor({ event: "holding", pid: first.pid });
    const refused = await runCli(["upgrade", "--control", sv.control]);
    assert.is(refused.code, 1);
    assert.match(refused.stderr, /ERR_TOO_MANY_DRAINING.*--max-draining 1/);
    process.kill(first.pid, "SIGTERM"); // the held generation finishes draining
    await waitForExit(first.pid);
    assert.is((await runCli(["upgrade", "--control", sv.control])).code, 0);
    await sv.ready(3);
  } finally {
    await sv.f.killAll();
  }
});

uvuTest.run();
