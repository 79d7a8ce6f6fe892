// systemd socket activation with Debian's real `systemd-socket-activate`: it
// binds, waits for the first connection, then execs the service with
// LISTEN_FDS=1, LISTEN_PID and fd 3. A plain Upgrader and the supervisor both
// adopt that socket instead of binding, and upgrade on it under load.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { Fixture, freePort, get, RUNTIME, tempDir, waitForExit } from "./_helpers.ts";
import { Load } from "./_load.ts";
import { cliArgv, fixtureArgv, runCli, waitForStderr } from "./_supervisor.ts";

/**
 * `systemd-socket-activate` on 127.0.0.1:port, passing only what the
 * runtimes need; resolves once it listens.
 */
async function activate(
  port: number,
  name: string,
  command: string[],
  config: object,
): Promise<Fixture> {
  const pass = ["PATH", "HOME", "TABLEFLIP_TEST_RUNTIME", "FIXTURE"].flatMap((v) => ["-E", v]);
  const f = new Fixture(
    ["systemd-socket-activate", "-l", `127.0.0.1:${port}`, `--fdname=${name}`, ...pass, ...command],
    { FIXTURE: JSON.stringify(config), TABLEFLIP_TEST_RUNTIME: RUNTIME },
  );
  await waitForStderr(f, new RegExp(`Listening on 127\\.0\\.0\\.1:${port}`));
  return f;
}

/**
 * Upgrades to each of `generations` by SIGHUP to `target(pid of the serving
 * generation)` under load: no request fails, and each new generation serves
 * once the old one is gone.
 */
async function upgradeUnderLoad(
  f: Fixture,
  port: number,
  generations: number[],
  target: (serving: number) => number,
): Promise<void> {
  const load = new Load({ port }, { keepAlive: 2, fresh: 2 });
  try {
    await load.progress(20);
    for (const generation of generations) {
      const serving = f.lines.filter((l) => l.event === "ready").at(-1)!.pid;
      process.kill(target(serving), "SIGHUP");
      const next = await f.waitFor({ event: "ready", generation });
      await waitForExit(serving);
      await load.servedBy(next.pid, 10);
    }
    const report = await load.stop();
    assert.equal(report.errors, []);
    assert.is(report.failed, 0);
  } finally {
    await load.stop();
  }
}

const only = RUNTIME !== "node24" && RUNTIME !== "node20";

if (only) {
  test("a plain Upgrader adopts systemd's socket by address and upgrades on it under load", async () => {
    const port = await freePort();
    // The application asks for ":port"; systemd bound 127.0.0.1:port: the same socket.
    const f = await activate(port, "web", fixtureArgv(), { listen: [`tcp :${port}`] });
    try {
      const first = await get({ port }); // the first connection starts the service
      const gen0 = JSON.parse(first.body);
      assert.is(gen0.pid, f.child.pid, "systemd-socket-activate exec'd the service");
      const listening = await f.waitFor({ event: "listening", generation: 0 });
      assert.is(listening.port, port);
      assert.is(listening.inherited, false, "no manifest: the socket came from LISTEN_FDS");
      await f.waitFor({ event: "ready", generation: 0 });
      await upgradeUnderLoad(f, port, [1, 2], (serving) => serving);
    } finally {
      await f.killAll();
    }
  });

  test("the supervisor holds systemd's socket (by name) and upgrades on it under load", async () => {
    const port = await freePort();
    const control = join(tempDir("tableflip-ctl-"), "ctl", "sv.sock");
    const argv = cliArgv(["run", "--control", control, "--", ...fixtureArgv()]);
    const f = await activate(port, "http", argv, { listen: [`tcp 127.0.0.1:${port}`] });
    try {
      assert.is(JSON.parse((await get({ port })).body).generation, 1);
      await waitForStderr(f, /holding tcp4 127\.0\.0\.1:\d+ \(fd 3, systemd\)/);
      const status = JSON.parse((await runCli(["status", "--json", "--control", control])).stdout);
      assert.equal(status.listeners, [{
        network: "tcp4",
        address: `127.0.0.1:${port}`,
        name: "http",
        source: "systemd",
      }]);
      await upgradeUnderLoad(f, port, [2, 3], () => f.child.pid!);
    } finally {
      await f.killAll();
    }
  });

  test("malformed LISTEN_FDS is a typed error; another process's LISTEN_PID is ignored", async () => {
    const run = (vars: string) =>
      new Fixture(
        ["sh", "-c", `${vars} exec "$@"`, "sh", ...fixtureArgv()],
        { FIXTURE: JSON.stringify({ listen: ["tcp 127.0.0.1:0"] }) },
      );
    const bad = run("LISTEN_PID=$$ LISTEN_FDS=abc");
    const names = run("LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=a:b");
    const other = run("LISTEN_PID=1 LISTEN_FDS=1");
    try {
      const failed = await bad.waitFor({ event: "constructor-failed" });
      assert.is(failed.code, "ERR_LISTEN_FDS");
      assert.match(String(failed.message), /LISTEN_FDS="abc" is not a number of fds/);
      const mismatch = await names.waitFor({ event: "constructor-failed" });
      assert.match(String(mismatch.message), /LISTEN_FDNAMES has 2 names for 1 fds/);
      const ready = await other.waitFor({ event: "ready" });
      assert.is(ready.generation, 0, "LISTEN_PID names another process: nothing adopted");
    } finally {
      await Promise.all([bad, names, other].map((f) => f.killAll()));
    }
  });
}

test.run();
