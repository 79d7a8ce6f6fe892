/**
 * The demo's `/version` server on Express 5, upgraded on SIGHUP with zero
 * downtime. Express builds a request handler; the `node:http` server around it
 * is what the upgrader listens with and what HttpDrain drains.
 *
 *   node examples/frameworks/express.ts   (DEMO_ADDR, DEMO_PID_FILE as for the demo)
 *   kill -HUP "$(cat demo.pid)"
 */
import http from "node:http";
import process from "node:process";
import express from "express";
import { HttpDrain, Upgrader } from "../../mod.ts";

const version = "v0.0.1";
const upg = new Upgrader({ pidFile: process.env.DEMO_PID_FILE ?? "demo.pid" });
upg.upgradeOnSignal("SIGHUP", (err) => console.error("Upgrade failed:", err.message));

const app = express();
app.get("/version", (_req, res) => {
  res.type("text/plain").send(version + "\n");
});

const server = http.createServer(app);
const drain = new HttpDrain(server);
const listener = await upg.listen("tcp", process.env.DEMO_ADDR ?? ":8080", server);
await upg.ready();
await upg.exit;
await drain.shutdown({ listeners: [listener], timeout: 30_000 });
process.exit(0);
