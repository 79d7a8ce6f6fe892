/**
 * The demo's `/version` server on Hono, upgraded on SIGHUP with zero
 * downtime. On Node, `@hono/node-server`'s `getRequestListener` turns the app
 * into a `node:http` request handler: the server around it is what the
 * upgrader listens with and what HttpDrain drains. On Bun and Deno the same
 * `app.fetch` runs on the native server through `tableflip/native`.
 *
 *   node examples/frameworks/hono.ts   (DEMO_ADDR, DEMO_PID_FILE as for the demo)
 *   kill -HUP "$(cat demo.pid)"
 */
import http from "node:http";
import process from "node:process";
import { Hono } from "hono";
import { getRequestListener } from "@hono/node-server";
import { HttpDrain, Upgrader } from "../../mod.ts";

const version = "v0.0.1";
const upg = new Upgrader({ pidFile: process.env.DEMO_PID_FILE ?? "demo.pid" });
upg.upgradeOnSignal("SIGHUP", (err) => console.error("Upgrade failed:", err.message));

const app = new Hono();
app.get("/version", (c) => c.text(version + "\n"));

const address = process.env.DEMO_ADDR ?? ":8080";
const native = "Bun" in globalThis || "Deno" in globalThis;
if (native) {
  // Loaded before listening: nothing may be awaited between listen and serving.
  const { serveBun, serveDeno } = await import("../../native.ts");
  const listener = await upg.listen("tcp", address);
  const onEvent = (e: { type: string; reason?: string }) => {
    if (e.type === "native-fallback") console.error("native server unavailable:", e.reason);
  };
  const server = "Bun" in globalThis
    ? await serveBun(listener, { fetch: app.fetch, onEvent })
    : await serveDeno(listener, app.fetch, { onEvent });
  await upg.ready();
  await upg.exit;
  await server.shutdown({ timeout: 30_000 });
} else {
  const server = http.createServer(getRequestListener(app.fetch));
  const drain = new HttpDrain(server);
  const listener = await upg.listen("tcp", address, server);
  await upg.ready();
  await upg.exit;
  await drain.shutdown({ listeners: [listener], timeout: 30_000 });
}
process.exit(0);
