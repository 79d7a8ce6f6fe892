// The runtime behaviour the supervisor is built on (docs/SUPERVISOR.md), each
// fact checked on the runtime it is about. A runtime upgrade that changes one
// fails here first. Each probe runs once per suite run (on node22's turn).
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
// @ts-types="../scripts/runtimes.d.mts"
import { commandFor } from "../scripts/runtimes.mjs";
import { RUNTIME, tempDir } from "./_helpers.ts";
import { holdWithBinder } from "../runtimes/node_hold.ts";

/** Runs `source` as a script on `runtime`; resolves with its stdout lines and exit code. */
function probe(runtime: string, source: string): Promise<{ lines: string[]; code: number | null }> {
  const file = join(tempDir("tableflip-fact-"), "probe.mjs");
  writeFileSync(file, source);
  const argv = commandFor(runtime, file);
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => out += d);
    child.on("close", (code) => resolve({ lines: out.trim().split("\n"), code }));
  });
}

/** A child that catches SIGTERM and exits 3; the parent reports what its exit event says. */
const KILL_PROBE = (how: string) => `
import { spawn } from "node:child_process";
const child = spawn("sh", ["-c", "trap 'exit 3' TERM; echo up; while :; do sleep 0.05; done"], {
  stdio: ["ignore", "pipe", "inherit"],
});
child.stdout.once("data", () => ${how});
child.on("exit", (code, signal) => console.log(JSON.stringify({ code, signal })));
`;

if (RUNTIME === "node22") {
  for (
    const [runtime, reported] of [
      ["deno", { code: null, signal: "SIGTERM" }],
      ["bun", { code: 3, signal: null }],
      ["node22", { code: 3, signal: null }],
    ] as const
  ) {
    test(`${runtime}: child.kill() then exit reports ${JSON.stringify(reported)}; process.kill(pid) the real status`, async () => {
      const viaChild = await probe(runtime, KILL_PROBE(`child.kill("SIGTERM")`));
      assert.equal(JSON.parse(viaChild.lines.at(-1)!), reported);
      const viaPid = await probe(runtime, KILL_PROBE(`process.kill(child.pid, "SIGTERM")`));
      assert.equal(JSON.parse(viaPid.lines.at(-1)!), { code: 3, signal: null });
    });
  }

  test("node: a listening handle received over IPC is not polled; connections wait for a server", async () => {
    const held = await holdWithBinder({ network: "tcp", host: "127.0.0.1", port: 0 });
    // Connect and send a request while nothing but the raw handle holds the socket.
    const answer = new Promise<string>((resolve, reject) => {
      const req = http.get({ host: "127.0.0.1", port: held.port, agent: false }, (res) => {
        let body = "";
        res.on("data", (d) => body += d);
        res.on("end", () => resolve(body));
      });
      req.on("error", reject);
    });
    const connected = await new Promise<boolean>((resolve) => {
      const s = net.connect(held.port!, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    assert.ok(connected, "the kernel completes the handshake: the socket listens");
    // Only now does something serve it: the waiting request is answered by that server.
    const server = http.createServer((_req, res) => res.end("served"));
    await new Promise<void>((resolve) => server.listen({ fd: held.fd }, resolve));
    try {
      assert.is(await answer, "served");
    } finally {
      server.close();
    }
  });
}

test.run();
