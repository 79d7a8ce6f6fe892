// sd_notify through the real backend of the runtime the suite runs on: a
// python3 AF_UNIX/SOCK_DGRAM receiver (test/fixtures/dgram_receiver.py),
// bound to a path and to an abstract @name, gets the datagrams that
// test/fixtures/sd_notify_client.ts sends, and the test checks their exact
// content, order, sender pid and MONOTONIC_USEC against the receiver's own
// CLOCK_MONOTONIC. Plus the parsing rules, and the runtime fact each sender
// rests on (Node: systemd-notify; Bun and Deno: their clock).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NotifySocketError, TableflipError } from "../src/errors.ts";
import { notifyMessage, parseNotifySocket } from "../src/sd_notify.ts";
import { libcCandidates } from "../runtimes/libc/symbols.ts";
import { Fixture, type Line, ROOT, RUNTIME, tempDir } from "./_helpers.ts";
import { datagrams, receiver, stopReceiver as stop } from "./_notify.ts";
// @ts-types="../scripts/runtimes.d.mts"
import { commandFor } from "../scripts/runtimes.mjs";

const CLIENT = join(ROOT, "test", "fixtures", "sd_notify_client.ts");
const ON_NODE = RUNTIME.startsWith("node");
const ROOT_USER = process.getuid?.() === 0;
let names = 0;

/** Resolves once `r` has received `count` datagrams. */
function received(r: Fixture, count: number): Promise<Line> {
  return r.waitFor(() => datagrams(r).length >= count);
}

/** Runs the client fixture with `NOTIFY_SOCKET=socket`; resolves with its lines once it exited. */
async function client(socket: string, mode = "sequence"): Promise<Fixture> {
  const c = new Fixture(commandFor(RUNTIME, CLIENT, [mode]), { NOTIFY_SOCKET: socket });
  const { code } = await c.exited;
  assert.is(code, 0, `client exited with ${code}; stderr:\n${c.stderr.join("\n")}`);
  return c;
}

function abstractName(): string {
  return `@tableflip-test-${process.pid}-${++names}`;
}

const SEQUENCE = [
  "READY=1\nSTATUS=serving on :8080",
  "RELOADING=1\nMONOTONIC_USEC=<usec>\nSTATUS=upgrading to v2",
  "MAINPID=<pid>\nX_TABLEFLIP_TEST=1",
  "STATUS=generation 1 ready",
  "READY=1",
  "STOPPING=1",
];

for (const kind of ["path", "abstract"] as const) {
  test(`${RUNTIME}: the whole sequence arrives in order at a ${kind} socket`, async () => {
    const address = kind === "path" ? join(tempDir(), "notify.sock") : abstractName();
    const r = await receiver(address);
    try {
      const c = await client(address);
      const sent = await c.waitFor({ event: "sent" });
      // The bad field name was reported, not sent; everything else was sent.
      assert.equal(sent.results, [true, true, true, true, false, true, true]);
      const errors = c.lines.filter((l) => l.event === "error");
      assert.equal(errors.map((l) => l.code), ["ERR_INVALID_ARGUMENT"]);
      // Node's systemd-notify follows each message with BARRIER=1.
      await received(r, ON_NODE ? SEQUENCE.length * 2 : SEQUENCE.length);
      const all = datagrams(r);
      const messages = all.filter((l) => l.data !== "BARRIER=1");
      const clientPid = c.child.pid!;
      const reload = messages[1];
      const usec = /MONOTONIC_USEC=(\d+)/.exec(String(reload.data))?.[1];
      assert.ok(usec, `no MONOTONIC_USEC in ${JSON.stringify(reload.data)}`);
      assert.equal(
        messages.map((l) => l.data),
        SEQUENCE.map((m) => m.replace("<usec>", usec).replace("<pid>", String(clientPid))),
      );
      // MONOTONIC_USEC lies between the client's clock before the call and the receipt.
      const before = BigInt((await c.waitFor({ event: "clock" })).usec as string);
      assert.ok(before <= BigInt(usec), `MONOTONIC_USEC ${usec} < ${before} read before it`);
      assert.ok(BigInt(usec) <= BigInt(reload.receivedUsec as number), "sent after receipt");
      if (ON_NODE) {
        assert.equal(all.map((l) => l.data === "BARRIER=1"), SEQUENCE.flatMap(() => [false, true]));
      }
      // libc sendto is from the client itself; systemd-notify claims its parent when root.
      if (!ON_NODE || ROOT_USER) assert.ok(messages.every((l) => l.pid === clientPid));
      else assert.ok(messages.every((l) => l.pid !== clientPid));
    } finally {
      await stop(r);
    }
  });
}

test(`${RUNTIME}: an unset or empty NOTIFY_SOCKET sends nothing and reports nothing`, async () => {
  const c = await client("");
  const sent = await c.waitFor({ event: "sent" });
  assert.is(sent.enabled, false);
  assert.equal(sent.results, [false, false, false, false, false, false, false]);
  // The bad field is not even built when there is nowhere to send it.
  assert.equal(c.lines.filter((l) => l.event === "error"), []);
});

test(`${RUNTIME}: a malformed NOTIFY_SOCKET throws NotifySocketError at once`, async () => {
  const c = await client("notify.sock");
  const line = await c.waitFor({ event: "error" });
  assert.equal([line.thrown, line.code, line.name], [
    true,
    "ERR_NOTIFY_SOCKET",
    "NotifySocketError",
  ]);
  assert.match(String(line.message), /"notify\.sock".*absolute path .* or an abstract socket name/);
});

const denoTest = RUNTIME === "deno" ? test : test.skip;

denoTest(
  "deno: without --allow-env=NOTIFY_SOCKET, notifierFor throws a PermissionError",
  async () => {
    const libcPath = libcCandidates("x86_64").find((p) => existsSync(p)) ?? "libc.so.6";
    const deno = commandFor("deno", CLIENT)[0];
    const argv = [deno, "run", "--quiet", `--allow-ffi=${libcPath}`, CLIENT, "one"];
    const c = new Fixture(argv, { NOTIFY_SOCKET: "/run/notify" });
    const { code } = await c.exited;
    assert.is(code, 0, c.stderr.join("\n"));
    const line = await c.waitFor({ event: "error" });
    assert.equal([line.thrown, line.code, line.name], [true, "ERR_PERMISSION", "PermissionError"]);
    assert.match(String(line.message), /--allow-env=NOTIFY_SOCKET/);
  },
);

test(`${RUNTIME}: a socket nobody listens on: each failure goes to onError, the process goes on`, async () => {
  const missing = join(tempDir(), "nobody-here.sock");
  const c = await client(missing, "one");
  const sent = await c.waitFor({ event: "sent" });
  assert.equal(sent.results, [false]);
  const errors = c.lines.filter((l) => l.event === "error");
  assert.is(errors.length, 1);
  assert.is(errors[0].code, "ERR_NOTIFY");
  assert.ok(String(errors[0].message).includes(missing));
  // libc names ENOENT; systemd-notify prints strerror(ENOENT).
  assert.match(String(errors[0].message), /ENOENT|No such file or directory/);
});

test(`${RUNTIME}: fact: which clock is CLOCK_MONOTONIC`, async () => {
  const address = abstractName();
  const r = await receiver(address);
  try {
    const c = await client(address, "clock");
    const clocks = await c.waitFor({ event: "clocks" });
    const [message] = await received(r, 1).then(() => datagrams(r));
    const reference = BigInt(message.receivedUsec as number); // python's CLOCK_MONOTONIC
    const monotonic = BigInt(clocks.monotonicUsec as string);
    const hrtime = BigInt(clocks.hrtimeUsec as string);
    assert.ok(monotonic <= reference, `backend clock ${monotonic} is ahead of ${reference}`);
    assert.ok(reference - monotonic < 10_000_000n, `backend clock ${monotonic} vs ${reference}`);
    if (ON_NODE) {
      // Node: process.hrtime.bigint() is CLOCK_MONOTONIC itself.
      assert.ok(hrtime <= monotonic && monotonic - hrtime < 10_000_000n);
    } else if (reference > 30_000_000n) {
      // Bun, Deno: hrtime counts from process start, hence libc clock_gettime.
      assert.ok(hrtime < 20_000_000n, `${RUNTIME} hrtime ${hrtime} µs looks like boot time now`);
    }
  } finally {
    await stop(r);
  }
});

/** Runs argv with NOTIFY_SOCKET set; resolves with its exit code and stderr. */
function run(argv: string[], socket: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), {
      env: { ...process.env, NOTIFY_SOCKET: socket },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d) => stderr += d);
    child.once("close", (code) => resolve({ code, stderr }));
  });
}

// Only the Node backend sends through systemd-notify.
const nodeTest = ON_NODE ? test : test.skip;

nodeTest("fact (Node's sender): systemd-notify's pid, BARRIER=1 and exit status", async () => {
  const address = abstractName();
  const r = await receiver(address);
  try {
    const own = await run(["systemd-notify", "READY=1", "STATUS=a b"], address);
    assert.is(own.code, 0, own.stderr);
    await received(r, 2);
    const [message, barrier] = datagrams(r);
    // One datagram per call, the arguments joined by newlines, then a barrier with one fd.
    assert.equal([message.data, message.fds], ["READY=1\nSTATUS=a b", 0]);
    assert.equal([barrier.data, barrier.fds], ["BARRIER=1", 1]);
    assert.is.not(barrier.pid, process.pid);
    if (ROOT_USER) {
      // Privileged, it claims its parent's pid: the main process, not a helper.
      assert.is(message.pid, process.pid);
      const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
      const dropped = await run([...nobody, "systemd-notify", "STATUS=nobody"], address);
      assert.is(dropped.code, 0, dropped.stderr);
      await received(r, 4);
      const [, , asNobody, itsBarrier] = datagrams(r);
      // Unprivileged, it cannot: the message is from its own pid (NotifyAccess=all needed).
      assert.is(asNobody.data, "STATUS=nobody");
      assert.is(asNobody.pid, itsBarrier.pid);
      assert.is.not(asNobody.pid, process.pid);
    } else {
      assert.is(message.pid, barrier.pid);
    }
  } finally {
    await stop(r);
  }
  const failed = await run(["systemd-notify", "READY=1"], join(tempDir(), "missing.sock"));
  assert.is(failed.code, 1);
  assert.match(failed.stderr, /No such file or directory/);
});

test("parseNotifySocket: paths, abstract names, unset, and what is refused", () => {
  assert.equal(parseNotifySocket("/run/systemd/notify"), {
    kind: "path",
    address: "/run/systemd/notify",
    name: "/run/systemd/notify",
  });
  assert.equal(parseNotifySocket("@tf/1"), { kind: "abstract", address: "@tf/1", name: "tf/1" });
  assert.is(parseNotifySocket(undefined), undefined);
  assert.is(parseNotifySocket(""), undefined);
  assert.ok(parseNotifySocket("/" + "a".repeat(106)));
  const refused: [string, RegExp][] = [
    ["run/notify", /absolute path/],
    ["vsock:2:1234", /AF_VSOCK/],
    ["@", /name after @ is empty/],
    ["/" + "a".repeat(107), /108 bytes long; .* at most 107/],
    ["@" + "é".repeat(54), /108 bytes long/],
    ["/run/a\0b", /NUL/],
  ];
  for (const [value, why] of refused) {
    try {
      parseNotifySocket(value);
      assert.unreachable(`${JSON.stringify(value)} was accepted`);
    } catch (error) {
      assert.instance(error, NotifySocketError);
      assert.instance(error, TableflipError);
      assert.is((error as NotifySocketError).code, "ERR_NOTIFY_SOCKET");
      assert.is((error as NotifySocketError).value, value);
      assert.match((error as Error).message, why);
    }
  }
});

test("notifyMessage: fields in order, one per line; malformed ones refused", () => {
  assert.is(
    notifyMessage({ READY: 1, STATUS: "ok", MONOTONIC_USEC: 5n }),
    "READY=1\nSTATUS=ok\nMONOTONIC_USEC=5",
  );
  const bad: Record<string, string | number>[] = [{}, { ready: 1 }, { "A=B": 1 }, {
    STATUS: "a\nb",
  }];
  for (const fields of bad) {
    assert.throws(
      () => notifyMessage(fields),
      (e: unknown) => (e as TableflipError).code === "ERR_INVALID_ARGUMENT",
    );
  }
});

test.run();
