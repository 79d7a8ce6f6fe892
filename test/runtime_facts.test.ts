// The runtime behaviour the Bun and Deno backends are built on, each fact
// checked on the runtime it is about (test/fixtures/runtime_probe.ts), next
// to what the backend makes of it. A runtime upgrade that changes one of
// these fails here first.
import { type ChildProcess, type IOType, spawn } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createBackend } from "../runtimes/detect.ts";
import { type Line, ROOT, WAIT_LIMIT } from "./_helpers.ts";
// @ts-types="../scripts/runtimes.d.mts"
import { commandFor, runtime as runtimeInfo } from "../scripts/runtimes.mjs";

const PROBE = join(ROOT, "test", "fixtures", "runtime_probe.ts");
const O_CLOEXEC = 0o2000000;

/** A probe process: its JSON lines, and its exit. */
class Probe {
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  #waiters: ((line: Line) => void)[] = [];

  constructor(argv: string[], extra: (IOType | number)[] = []) {
    this.child = spawn(argv[0], argv.slice(1), {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe", ...extra],
    });
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
    createInterface({ input: this.child.stdout! }).on("line", (text) => {
      const line = JSON.parse(text) as Line;
      this.lines.push(line);
      for (const waiter of this.#waiters.splice(0)) waiter(line);
    });
    createInterface({ input: this.child.stderr! }).on("line", (text) => this.stderr.push(text));
  }

  /** The next (or an earlier) line matching `match`. */
  line(match: (l: Line) => boolean = () => true): Promise<Line> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`no matching line in ${WAIT_LIMIT} ms; stderr:\n${this.stderr.join("\n")}`),
          ),
        WAIT_LIMIT,
      );
      const wait = (l: Line) => {
        if (match(l)) {
          clearTimeout(timer);
          resolve(l);
        } else this.#waiters.push(wait);
      };
      this.#waiters.push(wait);
    });
  }

  async kill(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.exited;
  }
}

function probe(runtime: string, args: string[], extra: (IOType | number)[] = []): Probe {
  return new Probe(commandFor(runtime, PROBE, args), extra);
}

/** Whether fd `fd` of process `pid` is close-on-exec, from /proc/<pid>/fdinfo. */
function closeOnExec(pid: number, fd: number): boolean {
  const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8");
  const flags = parseInt(/^flags:\s+([0-7]+)/m.exec(info)![1], 8);
  return (flags & O_CLOEXEC) !== 0;
}

/** A TCP listener in this process and its fd, to pass to probes. */
async function tcpListener(): Promise<{ server: net.Server; fd: number; port: number }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ port: 0, host: "127.0.0.1" }, resolve));
  const fd = createBackend().fdOf(server);
  assert.ok(fd !== undefined, "the suite's own backend finds its listener's fd");
  return { server, fd: fd!, port: (server.address() as net.AddressInfo).port };
}

const ADOPT_FACTS = {
  // http.listen({fd}) adopts, except in Bun, which binds some other port.
  node20: { httpAdopts: true, netHandleFd: true, rawCloseOnExec: true },
  bun: { httpAdopts: false, netHandleFd: true, rawCloseOnExec: true },
  deno: { httpAdopts: true, netHandleFd: false, rawCloseOnExec: false },
};

for (const [runtime, facts] of Object.entries(ADOPT_FACTS)) {
  test(`${runtime}: listen({fd}) on an inherited TCP listener (http, net) and the backend's adopt`, async () => {
    // Three listeners (Deno's spawn cannot pass one fd twice): 3 for http, 4 for the backend, 5 for net.
    const [http, viaBackend, viaNet] = [
      await tcpListener(),
      await tcpListener(),
      await tcpListener(),
    ];
    const p = probe(runtime, ["adopt"], [http.fd, viaBackend.fd, viaNet.fd]);
    try {
      const seen = await p.line();
      assert.is(seen.netPort, viaNet.port, "node:net listen({fd}) adopts the socket");
      assert.is(
        seen.httpPort === http.port,
        facts.httpAdopts,
        `http adopts: ${seen.httpPort} vs ${http.port}`,
      );
      assert.is(seen.netHandleFd === 5, facts.netHandleFd, "net.Server exposes _handle.fd");
      assert.is(closeOnExec(p.child.pid!, 5), facts.rawCloseOnExec, "adopted fd close-on-exec");
      // The backend: same socket, fd found, close-on-exec on every runtime.
      assert.is(seen.backendPort, viaBackend.port);
      assert.is(seen.backendFdOf, 4);
      assert.ok(closeOnExec(p.child.pid!, 4), "the backend's adopted fd is close-on-exec");
    } finally {
      await p.kill();
      for (const { server } of [http, viaBackend, viaNet]) server.close();
    }
  });
}

/** The local port of the listening TCP socket behind fd `fd` of process `pid`, from /proc. */
function listeningPort(pid: number, fd: number): number | undefined {
  const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
  for (const table of ["tcp", "tcp6"]) {
    for (const row of readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (cols[9] === inode && cols[3] === "0A") return parseInt(cols[1].split(":")[1], 16);
    }
  }
  return undefined;
}

for (const [runtime, exposed] of [["node20", true], ["bun", false], ["deno", false]] as const) {
  test(`${runtime}: an http.Server ${exposed ? "exposes" : "hides"} its fd; the backend finds it`, async () => {
    const p = probe(runtime, ["http-fd"]);
    try {
      const seen = await p.line();
      assert.is(seen.handleFd !== null, exposed);
      assert.type(seen.fdOf, "number");
      assert.is(listeningPort(p.child.pid!, seen.fdOf as number), seen.port);
    } finally {
      await p.kill();
    }
  });
}

test("bun: a read/write node:net socket on an inherited pipe fails; Bun.connect({fd}) is the control link", async () => {
  const raw = probe("bun", ["control-net"], ["pipe"]);
  try {
    const seen = await raw.line((l) => l.event === "error" || l.event === "ready-sent");
    assert.equal([seen.event, seen.message], ["error", "Socket is closed"]);
  } finally {
    await raw.kill();
  }
});

for (const runtime of ["node20", "bun", "deno"]) {
  test(`${runtime}: the backend's control link writes the ready line and sees the parent go`, async () => {
    const p = probe(runtime, ["control"], ["pipe"]);
    try {
      const control = p.child.stdio[3] as net.Socket;
      const got = await new Promise<string>((resolve) => {
        let text = "";
        control.on("data", (chunk) => {
          text += chunk;
          if (text.includes("\n")) resolve(text);
        });
      });
      assert.is(got, "ready\n");
      await p.line((l) => l.event === "ready-sent");
      control.destroy();
      await p.line((l) => l.event === "parent-gone");
      assert.is(await p.exited, 0);
    } finally {
      await p.kill();
    }
  });
}

test("deno: node:fs sees an inherited fd only if the parent was Deno (else EBADF); the backend always does", async () => {
  const { server, fd } = await tcpListener();
  const p = probe("deno", ["fstat"], [fd]);
  try {
    const seen = await p.line();
    // A Deno parent announces extra fds (DENO_EXTRA_STDIO_FDS); other parents do not.
    const parentIsDeno = "Deno" in globalThis;
    assert.equal([seen.fs, seen.backend], [parentIsDeno ? "socket" : "EBADF", "socket"]);
  } finally {
    await p.kill();
    server.close();
  }
});

for (const [runtime, cleared] of [["deno", true], ["bun", false]] as const) {
  test(`${runtime}: node:child_process.spawn ${cleared ? "clears" : "keeps"} O_NONBLOCK on a passed listener; the backend keeps it set`, async () => {
    const p = probe(runtime, ["spawn-nonblock"]);
    try {
      const seen = await p.line();
      assert.equal([seen.before, seen.afterRaw, seen.afterBackend], [true, !cleared, true]);
    } finally {
      await p.kill();
    }
  });
}

test("deno: spawn cannot pass one fd twice (the process dies); the backend passes a copy", async () => {
  const raw = probe("deno", ["spawn-twice", "raw"]);
  const viaBackend = probe("deno", ["spawn-twice", "backend"]);
  try {
    assert.is.not(await raw.exited, 0);
    assert.match(raw.stderr.join("\n"), "Bad file descriptor");
    assert.is((await viaBackend.line()).sameSocket, true);
  } finally {
    await raw.kill();
    await viaBackend.kill();
  }
});

test("deno: a Deno child of a Deno parent holds close-on-exec copies of its extra fds; closeFd drops them", async () => {
  const p = probe("deno", ["extra-copies"]);
  try {
    const seen = await p.line();
    assert.ok((seen.copies as number) >= 1, `copies: ${seen.copies}`);
    assert.ok((seen.cloexec as boolean[]).every(Boolean));
    assert.is(seen.afterClose, 0);
  } finally {
    await p.kill();
  }
});

test("deno: node:http closes a keep-alive connection whose response ends after the listener closed", async () => {
  const p = probe("deno", ["keepalive-after-close"]);
  try {
    const seen = await p.line();
    assert.equal([seen.connection, seen.serverClosedSocket], ["keep-alive", true]);
  } finally {
    await p.kill();
  }
});

test("node20: the same listener stays open for a keep-alive connection after close (no such close)", async () => {
  const p = probe("node20", ["keepalive-after-close"]);
  try {
    const seen = await p.line();
    assert.equal([seen.connection, seen.serverClosedSocket], ["keep-alive", false]);
  } finally {
    await p.kill();
  }
});

for (const runtime of ["node20", "bun", "deno"]) {
  test(`${runtime}: re-exec argv keeps the runtime flags, script and arguments`, async () => {
    const argv = commandFor(runtime, PROBE, ["reexec-argv", "x y", "--z"]);
    const p = new Probe(argv);
    try {
      const seen = await p.line();
      const info = runtimeInfo(runtime);
      const reexec = seen.reexec as string[];
      assert.is(reexec[0], seen.execPath);
      assert.equal(reexec.slice(1), argv.slice(1));
      if (runtime === "deno") {
        // Deno reports neither the flags nor the script: they come from /proc/self/cmdline.
        assert.equal(seen.denoArgs, ["reexec-argv", "x y", "--z"]);
        assert.equal(seen.execArgv, []);
        assert.equal(info.tsArgs.slice(0, 1), ["run"]);
      }
    } finally {
      await p.kill();
    }
  });
}

test("deno: child_process.spawn(deno, args) adds -A unless args hold permission flags", async () => {
  const deno = runtimeInfo("deno").exe;
  const flags = ["run", "--quiet", "--allow-run", "--allow-read", "--allow-env"];
  const bare = new Probe([deno, ...flags, PROBE, "spawn-self", "run", "SELF", "net-permission"]);
  const withFlags = new Probe([
    deno,
    ...flags,
    PROBE,
    "spawn-self",
    "run",
    "--allow-read",
    "SELF",
    "net-permission",
  ]);
  try {
    assert.is((await bare.line((l) => l.probe === "net-permission")).net, "granted");
    assert.is.not((await withFlags.line((l) => l.probe === "net-permission")).net, "granted");
  } finally {
    await bare.kill();
    await withFlags.kill();
  }
});

// Why the new generation is slow to take over thousands of reconnecting clients
// on Node (bench/accept_bench.mjs): its libuv accepts one connection per poll
// of the listener, so connections wait in the queue while a busy loop serves
// the others. Bun takes all queued connections at once. (Deno's setImmediate
// turns do not poll I/O each time, so this probe cannot say.)
const ACCEPT_PROBE = join(ROOT, "test", "fixtures", "accept_probe.mjs");
for (const runtime of ["node20", "node22", "node24", "bun"]) {
  const one = runtime.startsWith("node");
  test(`${runtime}: node:net accepts ${one ? "one" : "all"} of 20 queued connections per loop turn`, async () => {
    const p = new Probe(commandFor(runtime, ACCEPT_PROBE, ["20"]));
    const clients: net.Socket[] = [];
    try {
      const { port } = await p.line((l) => typeof l.port === "number");
      // The probe's loop is blocked until the kernel has queued all of these.
      for (let i = 0; i < 20; i++) {
        clients.push(net.connect(port as number, "127.0.0.1").on("error", () => {}));
      }
      const { turns, all } = await p.line((l) => typeof l.turns === "number");
      assert.is(all, 20);
      if (one) assert.ok((turns as number) >= 15, `20 connections in ${turns} turns`);
      else assert.ok((turns as number) <= 1, `20 connections in ${turns} turns`);
    } finally {
      for (const c of clients) c.destroy();
      await p.kill();
    }
  });
}

// Why an upgrade without the supervisor slows the old process down on Node and
// Deno (bench/README.md, the storm section): spawning with an fd past stdio,
// as an upgrade does, forks, and every page the parent writes afterwards takes
// a copy-on-write fault; Bun spawns with vfork. Under `tableflip run` the
// supervisor, a small process, spawns instead of the serving one.
const SPAWN_COW_PROBE = join(ROOT, "test", "fixtures", "spawn_cow_probe.mjs");
/** [runtime, how the child gets its fds ("extra": one past stdio, as an upgrade; "plain": stdio alone), whether it forks]. */
const SPAWNS = [
  ["node20", "extra", true],
  ["node22", "extra", true],
  ["node24", "extra", true],
  ["bun", "extra", false],
  ["deno", "extra", true],
  ["deno", "plain", false],
] as const;
for (const [runtime, stdio, forks] of SPAWNS) {
  const how = stdio === "extra" ? "with an extra fd" : "with stdio alone";
  const what = forks
    ? "forks: every page written after it faults"
    : "does not fork the parent's memory";
  test(`${runtime}: spawning ${how} ${what}`, async () => {
    const p = new Probe(commandFor(runtime, SPAWN_COW_PROBE, ["64", stdio]));
    try {
      const { pages, faults } = await p.line((l) => typeof l.faults === "number");
      const [f, n] = [faults as number, pages as number];
      if (forks) assert.ok(f >= n, `${f} faults for ${n} pages`);
      else assert.ok(f < n / 4, `${f} faults for ${n} pages`);
    } finally {
      await p.kill();
    }
  });
}

test.run();
