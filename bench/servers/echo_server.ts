// A minimal raw-TCP echo server that upgrades itself on SIGHUP, for the
// benchmark. Protocol: the client sends a line, the server answers the same
// line; while draining it answers `<line> bye` and closes after it, so a
// client never has a request in flight on a connection the server closes
// (the raw-TCP counterpart of HTTP's `Connection: close`).
//
// Env: BENCH_ADDR (default 127.0.0.1:0), BENCH_PID_FILE. Prints JSON lines
// {pid, generation, event, t} (t: epoch ms) on stdout: main, parent-gone,
// ready, upgrade-failed, drained.
import net from "node:net";
import process from "node:process";
import { Upgrader } from "../../mod.ts";

const tMain = Date.now();
const upg = new Upgrader({ pidFile: process.env.BENCH_PID_FILE });
const say = (event: string, data: Record<string, unknown> = {}) =>
  console.log(
    JSON.stringify({ pid: process.pid, generation: upg.generation, event, t: Date.now(), ...data }),
  );
say("main", { t: tMain });
upg.upgradeOnSignal("SIGHUP", (error) => say("upgrade-failed", { code: error.code }));
upg.waitForParent().then(() => say("parent-gone"));

/** How long a connection must stay idle before the drain closes it, in ms. */
const IDLE_GRACE = 2000;
interface Conn {
  pending: string;
  served: number;
  idleSince: number;
}
const conns = new Map<net.Socket, Conn>();
let draining = false;

const server = net.createServer({ noDelay: true }, (socket) => {
  const conn: Conn = { pending: "", served: 0, idleSince: Date.now() };
  conns.set(socket, conn);
  socket.setEncoding("utf8");
  socket.on("error", () => {});
  socket.on("close", () => conns.delete(socket));
  socket.on("data", (chunk: string) => {
    conn.pending += chunk;
    let newline: number;
    while ((newline = conn.pending.indexOf("\n")) >= 0) {
      const line = conn.pending.slice(0, newline);
      conn.pending = conn.pending.slice(newline + 1);
      conn.served++;
      conn.idleSince = Date.now();
      if (draining) {
        socket.end(`${line} bye\n`);
        return;
      }
      socket.write(`${line}\n`);
    }
  });
});

const listener = await upg.listen("tcp", process.env.BENCH_ADDR ?? "127.0.0.1:0", server);
await upg.ready();
say("ready");
await upg.exit;

// Drain: stop accepting, answer the next request on each connection with
// `bye`, close idle connections that served at least one request, and
// destroy what is left after 30 s.
draining = true;
net.Server.prototype.close.call(listener);
const deadline = Date.now() + 30_000;
await new Promise<void>((resolve) => {
  const sweep = () => {
    const now = Date.now();
    for (const [socket, conn] of conns) {
      const idle = conn.pending === "" && now - conn.idleSince >= IDLE_GRACE;
      if ((idle && conn.served > 0) || now > deadline) socket.destroy();
    }
    if (conns.size === 0) resolve();
    else setTimeout(sweep, 50);
  };
  sweep();
});
say("drained");
process.exit(0);
