/**
 * The demo's `/version` server on Fastify 5, upgraded on SIGHUP with zero
 * downtime. Fastify owns its server, so it is handed one through
 * `serverFactory`; the upgrader listens with that server (Fastify's own
 * `listen()` is not called) and HttpDrain drains it before `app.close()`
 * runs Fastify's onClose hooks.
 *
 *   node examples/frameworks/fastify.ts   (DEMO_ADDR, DEMO_PID_FILE as for the demo)
 *   kill -HUP "$(cat demo.pid)"
 */
import http from "node:http";
import process from "node:process";
import Fastify from "fastify";
import { HttpDrain, Upgrader } from "../../mod.ts";

const version = "v0.0.1";
const upg = new Upgrader({ pidFile: process.env.DEMO_PID_FILE ?? "demo.pid" });
upg.upgradeOnSignal("SIGHUP", (err) => console.error("Upgrade failed:", err.message));

let server!: http.Server;
const app = Fastify({
  serverFactory: (handler) => server = http.createServer(handler),
});
app.get("/version", (_req, reply) => {
  reply.type("text/plain").send(version + "\n");
});
await app.ready();

const drain = new HttpDrain(server);
const listener = await upg.listen("tcp", process.env.DEMO_ADDR ?? ":8080", server);
await upg.ready();
await upg.exit;
await drain.shutdown({ listeners: [listener], timeout: 30_000 });
await app.close();
process.exit(0);
