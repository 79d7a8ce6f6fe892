// One node:http server on two listeners: a keep-alive connection on either
// one serves request after request (it is not closed after the first
// response, which would cost every client a reconnect), before and after an
// upgrade, on every runtime.
import { test } from "uvu";
import * as assert from "uvu/assert";
import http from "node:http";
import { startFixture } from "./_helpers.ts";

const REQUESTS = 10;

/** GETs `/` REQUESTS times through one keep-alive agent; resolves with the pids and local ports seen. */
async function keepAlive(port: number): Promise<{ pids: Set<number>; connections: Set<number> }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const pids = new Set<number>();
  const connections = new Set<number>();
  try {
    for (let i = 0; i < REQUESTS; i++) {
      const body = await new Promise<string>((resolve, reject) => {
        const req = http.get({ host: "127.0.0.1", port, path: "/", agent }, (res) => {
          connections.add(res.socket.localPort!);
          let data = "";
          res.setEncoding("utf8");
          res.on("data", (d) => data += d);
          res.on("end", () => resolve(data));
        });
        req.on("error", reject);
      });
      pids.add(JSON.parse(body).pid);
    }
  } finally {
    agent.destroy();
  }
  return { pids, connections };
}

test("a keep-alive connection on the second listener of one server serves many requests, before and after an upgrade", async () => {
  const f = startFixture("server.ts", {
    FIXTURE: JSON.stringify({ listen: ["tcp 127.0.0.1:0", "tcp 127.0.0.1:0"] }),
  });
  try {
    const listening = async (generation: number) => {
      await f.waitFor({ event: "ready", generation });
      return f.lines
        .filter((l) => l.event === "listening" && l.generation === generation)
        .map((l) => l.port as number);
    };
    const ports = await listening(0);
    assert.is(ports.length, 2);
    for (const port of ports) {
      const { connections } = await keepAlive(port);
      assert.is(connections.size, 1, `port ${port}: ${REQUESTS} requests took ${connections.size}`);
    }
    f.signal("SIGHUP");
    const g1 = await f.waitFor({ event: "ready", generation: 1 });
    await f.waitFor({ event: "parent-gone", generation: 1 });
    assert.equal(await listening(1), ports);
    for (const port of ports) {
      const { pids, connections } = await keepAlive(port);
      assert.equal([...pids], [g1.pid]);
      assert.is(connections.size, 1, `port ${port}: ${REQUESTS} requests took ${connections.size}`);
    }
  } finally {
    await f.killAll();
  }
});

test.run();
