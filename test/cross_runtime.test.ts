// Upgrades across runtimes: the child's runtime is chosen by the re-exec
// command. Real processes on the pinned runtimes, real sockets and signals.
//
// Each suite runtime R runs the pairs R -> {node20, bun, deno} and
// {node20, bun, deno} -> R, so the node20, bun and deno runs together cover
// all 3 x 3 pairs (set TABLEFLIP_CROSS_ALL=1 to run all nine in one go), and
// one chain of four generations over three runtimes, starting on R, under a
// bounded HTTP load (Node -> Bun -> Deno -> Node on node20).
import { readFileSync, rmSync } from "node:fs";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { join } from "node:path";
import process from "node:process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fdsOnListener, get, type Line, ROOT, RUNTIME, startFixture, tempDir } from "./_helpers.ts";
import { ACCEPT_COPIES } from "../src/protocol.ts";
import { Load } from "./_load.ts";

const THREE = ["node20", "bun", "deno"];

/** The backend name a runtime's process reports. */
const backendOf = (runtime: string) =>
  runtime === "bun" ? "bun" : runtime === "deno" ? "deno" : "node";

function pairs(): [string, string][] {
  if (process.env.TABLEFLIP_CROSS_ALL) {
    return THREE.flatMap((parent) => THREE.map((child) => [parent, child] as [string, string]));
  }
  const out: [string, string][] = THREE.map((child) => [RUNTIME, child]);
  for (const parent of THREE) if (parent !== RUNTIME) out.push([parent, RUNTIME]);
  return out;
}

for (const [parent, child] of pairs()) {
  test(`${parent} -> ${child}: a TCP and a unix listener are handed over; the child serves both`, async () => {
    const dir = tempDir("tableflip-cross-");
    const socketPath = join(dir, "s.sock");
    const f = startFixture("cross_server.ts", {
      LISTEN: JSON.stringify(["tcp 127.0.0.1:0", `unix ${socketPath}`]),
      CHAIN: JSON.stringify([child]),
    }, { runtime: parent });
    try {
      const port = await f.port();
      const first = await f.waitFor({ event: "ready", generation: 0 });
      assert.is(first.runtime, backendOf(parent));
      f.signal("SIGHUP");
      const ready = await f.waitFor({ event: "ready", generation: 1 });
      assert.is(ready.runtime, backendOf(child));
      const listening = f.lines.filter((l) => l.event === "listening" && l.generation === 1);
      assert.equal(
        listening.map((l) => [l.network, l.inherited]),
        [["tcp", true], ["unix", true]],
      );
      assert.is(listening[0].port, port);
      // A Node parent passes copies of each listening socket; a Node child accepts on them
      // all, a Bun or Deno child closes them.
      const copies = parent.startsWith("node") && child.startsWith("node") ? ACCEPT_COPIES : 0;
      assert.is(fdsOnListener(ready.pid, port), 1 + copies, "fds of the TCP listener in the child");
      await f.waitFor({ event: "parent-gone", generation: 1 });
      await f.exited;
      const overTcp = JSON.parse((await get({ port })).body);
      const overUnix = JSON.parse((await get({ socketPath })).body);
      assert.equal([overTcp.pid, overTcp.runtime], [ready.pid, backendOf(child)]);
      assert.equal([overUnix.pid, overUnix.runtime], [ready.pid, backendOf(child)]);
    } finally {
      await f.killAll();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

const TLS_DIR = join(ROOT, "test", "fixtures", "tls");

/** GET over HTTPS, trusting only the test certificate; resolves with the body and the peer's CN. */
function getTls(port: number): Promise<{ body: string; cn: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({
      host: "127.0.0.1",
      port,
      agent: false,
      ca: readFileSync(join(TLS_DIR, "cert.pem")),
    }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => body += d);
      res.on("end", () => {
        const cn = String((res.socket as TLSSocket).getPeerCertificate().subject.CN);
        resolve({ body, cn });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
  });
}

// Bun cannot listen an https.Server on an fd; Deno's fd is found by scanning.
for (
  const [parent, child] of [["bun", "bun"], ["node20", "bun"], ["bun", "deno"], ["deno", "node20"]]
) {
  test(`https ${parent} -> ${child}: the child serves TLS on the inherited listener`, async () => {
    const f = startFixture("cross_server.ts", { TLS: TLS_DIR, CHAIN: JSON.stringify([child]) }, {
      runtime: parent,
    });
    try {
      const port = await f.port();
      await f.waitFor({ event: "ready", generation: 0 });
      assert.is(JSON.parse((await getTls(port)).body).generation, 0);
      f.signal("SIGHUP");
      const ready = await f.waitFor({ event: "ready", generation: 1 });
      await f.waitFor({ event: "parent-gone", generation: 1 });
      const { body, cn } = await getTls(port);
      assert.equal([JSON.parse(body).pid, cn], [ready.pid, "tableflip-test"]);
    } finally {
      await f.killAll();
    }
  });
}

/** Four generations, starting and ending on the suite's runtime, through the other two. */
function chain(): string[] {
  const others = THREE.filter((r) => backendOf(r) !== backendOf(RUNTIME));
  return [RUNTIME, ...others, RUNTIME];
}

test(`chain ${chain().join(" -> ")} under HTTP load: 0 failed requests`, async () => {
  const runtimes = chain();
  const f = startFixture("cross_server.ts", { CHAIN: JSON.stringify(runtimes.slice(1)) }, {
    runtime: runtimes[0],
  });
  let load: Load | undefined;
  try {
    const port = await f.port();
    let current: Line = await f.waitFor({ event: "ready", generation: 0 });
    load = new Load({ port }, { keepAlive: 2, fresh: 2 });
    await load.progress(40);
    for (let generation = 1; generation < runtimes.length; generation++) {
      f.signal("SIGHUP", current.pid);
      current = await f.waitFor({ event: "ready", generation });
      assert.is(current.runtime, backendOf(runtimes[generation]));
      await f.waitFor({ event: "parent-gone", generation });
      await load.progress(40);
    }
    const report = await load.stop();
    load = undefined;
    assert.is(report.failed, 0, `failed requests: ${report.errors.join(", ")}`);
    const served = new Set(report.bodies.map((b) => JSON.parse(b).generation));
    assert.equal([...served].sort(), runtimes.map((_, i) => i));
    const drained = f.lines.filter((l) => l.event === "drained");
    assert.equal(
      drained.map((l) => [l.generation, l.forced]),
      runtimes.slice(1).map((_, i) => [i, 0]),
    );
  } finally {
    await load?.stop();
    await f.killAll();
  }
});

test.run();
