// What systemd hears across upgrades (a real unix datagram receiver stands in
// for it): the supervisor's READY/RELOADING/STOPPING with STATUS lines and its
// own MAINPID, and a plain Upgrader's MAINPID handover from generation to
// generation. The order of the messages is checked.
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { RUNTIME, startFixture, tempDir, waitForExit } from "./_helpers.ts";
import { receivedMessages, receiver, stopReceiver } from "./_notify.ts";
import { startSupervisor } from "./_supervisor.ts";

const USEC = /^RELOADING=1\nMONOTONIC_USEC=\d+\n/;

test(`${RUNTIME}: the supervisor: MAINPID+READY, RELOADING, READY, STOPPING, in order`, async () => {
  const socket = join(tempDir(), "notify.sock");
  const r = await receiver(socket);
  const sv = startSupervisor(["--listen", "tcp:127.0.0.1:0"], { listen: ["tcp 127.0.0.1:0"] }, {
    env: { NOTIFY_SOCKET: socket },
  });
  try {
    const first = await sv.ready(1);
    const svPid = sv.f.child.pid!;
    assert.equal(await receivedMessages(r, 1), [
      `MAINPID=${svPid}\nREADY=1\nSTATUS=generation 1 serving (pid ${first.pid})`,
    ]);
    assert.is(first.notifySocket, undefined, "generations do not see NOTIFY_SOCKET");
    process.kill(svPid, "SIGHUP");
    const second = await sv.ready(2);
    const [, reloading, ready] = await receivedMessages(r, 3);
    assert.match(reloading, USEC);
    assert.match(reloading, /STATUS=upgrading from generation 1 to 2$/);
    assert.is(ready, `READY=1\nSTATUS=generation 2 serving (pid ${second.pid})`);
    process.kill(svPid, "SIGTERM");
    await sv.f.exited;
    const all = await receivedMessages(r, 4);
    assert.is(all[3], "STOPPING=1\nSTATUS=stopping on SIGTERM");
  } finally {
    await sv.f.killAll();
    await stopReceiver(r);
  }
});

test(`${RUNTIME}: a plain Upgrader: READY, then RELOADING and MAINPID=<new pid> per upgrade`, async () => {
  const socket = join(tempDir(), "notify.sock");
  const r = await receiver(socket);
  const f = startFixture("server.ts", {
    NOTIFY_SOCKET: socket,
    FIXTURE: JSON.stringify({
      listen: ["tcp 127.0.0.1:0"],
      gens: { 1: { hold: true }, 2: { mode: "exit" } },
    }),
  });
  try {
    const gen0 = await f.waitFor({ event: "ready", generation: 0 });
    assert.equal(await receivedMessages(r, 1), [
      `READY=1\nSTATUS=generation 0 (pid ${gen0.pid}) serving`,
    ]);
    f.signal("SIGHUP");
    const gen1 = await f.waitFor({ event: "ready", generation: 1 });
    const [, reloading, handover] = await receivedMessages(r, 3);
    assert.match(reloading, USEC);
    assert.match(reloading, /STATUS=upgrading to generation 1$/);
    assert.is(
      handover,
      `MAINPID=${gen1.pid}\nREADY=1\nSTATUS=generation 1 (pid ${gen1.pid}) serving`,
    );
    // Not only gone: seen gone by generation 1, which refuses to upgrade before (ERR_PARENT_ALIVE).
    await f.waitFor({ event: "parent-gone", generation: 1 });
    // Generation 2 exits before ready: the upgrade fails, generation 1 says it serves on.
    f.signal("SIGHUP", gen1.pid);
    await f.waitFor({ event: "upgrade-failed", generation: 1 });
    const [, , , again, failed] = await receivedMessages(r, 5);
    assert.match(again, /STATUS=upgrading to generation 2$/);
    assert.is(
      failed,
      `READY=1\nSTATUS=upgrade failed (ERR_CHILD_EXITED); generation 1 (pid ${gen1.pid}) serving`,
    );
    // The fixture calls upg.stop(); generation 1 then holds (until SIGTERM) instead of
    // exiting at once: on Node the message leaves through a systemd-notify process that
    // starts only after the previous one finished, which an instant exit would cut short.
    f.signal("SIGUSR1", gen1.pid);
    const all = await receivedMessages(r, 6);
    assert.is(all[5], `STOPPING=1\nSTATUS=stopping (pid ${gen1.pid})`);
    f.signal("SIGTERM", gen1.pid);
    await waitForExit(gen1.pid);
  } finally {
    await f.killAll();
    await stopReceiver(r);
  }
});

test.run();
