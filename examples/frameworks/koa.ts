/**
 * The demo's `/version` server on Koa, upgraded on SIGHUP with zero downtime.
 * `app.callback()` is a `node:http` request handler: the server around it is
 * what the upgrader listens with and what HttpDrain drains.
 *
 *   node examples/frameworks/koa.ts   (DEMO_ADDR, DEMO_PID_FILE as for the demo)
 *   kill -HUP "$(cat demo.pid)"
 */
import http from "node:http";
import process from "node:process";
import Koa from "koa";
import { HttpDrain, Upgrader } from "../../mod.ts";

const version = "v0.0.1";
const upg = new Upgrader({ pidFile: process.env.DEMO_PID_FILE ?? "demo.pid" });
upg.upgradeOnSignal("SIGHUP", (err) => console.error("Upgrade failed:", err.message));

const app = new Koa();
app.use((ctx) => {
  if (ctx.method === "GET" && ctx.path === "/version") ctx.body = version + "\n";
});

const server = http.createServer(app.callback());
const drain = new HttpDrain(server);
const listener = await upg.listen("tcp", process.env.DEMO_ADDR ?? ":8080", server);
await upg.ready();
await upg.exit;
await drain.shutdown({ listeners: [listener], timeout: 30_000 });
process.exit(0);
