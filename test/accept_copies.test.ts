// Connections a Node generation accepts on the extra fds of a listening
// socket (the accept copies a Node parent passes a Node child,
// runtimes/node.ts) are handed to the application's server as if it had
// accepted them itself: half-open as its own (http's, not net's default) and
// with the TCP keep-alive it asked for. Checked on every connection of 24
// under `tableflip run`, with the kernel's view of each socket from
// /proc/net/tcp. Node only: Bun and Deno generations are given no copies.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { freePort, RUNTIME } from "./_helpers.ts";
import { startSupervisor } from "./_supervisor.ts";

/** The timer column (`tr`) of each established server-side socket on 127.0.0.1:port: 2 is keep-alive. */
function serverTimers(port: number): number[] {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)
    .map((row) => row.trim().split(/\s+/))
    .filter((cols) => cols.length > 9 && cols[3] === "01" && cols[1] === `0100007F:${hex}`)
    .map((cols) => parseInt(cols[5].split(":")[0], 16));
}

/** Sends one request on a new connection and keeps it open; resolves with the parsed body. */
function askAndHold(port: number): Promise<{ socket: Socket; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    });
    let data = "";
    socket.on("data", (chunk) => {
      data += chunk;
      const at = data.indexOf("\r\n\r\n");
      const length = Number(/content-length: (\d+)/i.exec(data)?.[1]);
      if (at >= 0 && data.length >= at + 4 + length) {
        resolve({ socket, body: JSON.parse(data.slice(at + 4, at + 4 + length)) });
      }
    });
    socket.on("error", reject);
  });
}

const onNode = RUNTIME.startsWith("node") ? test : test.skip;

onNode(
  "every connection reaches the server half-open as its own, with its TCP keep-alive",
  async () => {
    const port = await freePort();
    const sv = startSupervisor(["--listen", `tcp:127.0.0.1:${port}`], {
      listen: [`tcp 127.0.0.1:${port}`],
      tcpKeepAlive: true,
    });
    const held: Socket[] = [];
    try {
      await sv.ready(1);
      const bodies = [];
      for (let i = 0; i < 24; i++) {
        const { socket, body } = await askAndHold(port);
        held.push(socket);
        bodies.push(body);
      }
      assert.equal(
        bodies.filter((b) => b.halfOpen !== true),
        [],
        "connections not half-open as the server's",
      );
      const timers = serverTimers(port);
      assert.is(timers.length, 24, `server-side sockets on ${port}`);
      assert.equal(timers.filter((t) => t !== 2), [], `timers (2 = keep-alive): ${timers}`);
    } finally {
      for (const socket of held) socket.destroy();
      await sv.f.killAll();
    }
  },
);

test.run();
