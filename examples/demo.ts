/**
 * The seed program: an HTTP server that answers GET /version with its
 * version and upgrades itself on SIGHUP with zero downtime.
 *
 *   npm run demo                      # Node; or: npm run demo -- --runtime bun
 *   while true; do curl http://localhost:8080/version; sleep 0.1; done
 *   edit `version` below to "v0.0.2", save, then: kill -HUP "$(cat demo.pid)"
 *
 * With `--server native` (or DEMO_SERVER=native) on Bun or Deno, Bun.serve or
 * Deno.serve answers instead of node:http, on the same socket (see native.ts).
 */
import http from "node:http";
import process from "node:process";
import { HttpDrain, Upgrader } from "../mod.ts";

// The version of this build.
const version = "v0.0.1";

// Where to listen and where to write the PID file (overridable for tests).
const address = process.env.DEMO_ADDR ?? ":8080";
const pidFile = process.env.DEMO_PID_FILE ?? "demo.pid";
// Over how many ms the drain asks keep-alive clients to reconnect (for bench/storm_bench.mjs;
// unset: HttpDrain's default, and none for the native servers).
const spread = process.env.DEMO_DRAIN_SPREAD ? Number(process.env.DEMO_DRAIN_SPREAD) : undefined;
/** How many Deno.serve servers accept on the socket (serveDeno's `acceptLoops`); unset: 1. */
const acceptLoops = process.env.DEMO_ACCEPT_LOOPS
  ? Number(process.env.DEMO_ACCEPT_LOOPS)
  : undefined;

const upg = new Upgrader({ pidFile });

// A 1 s start-up delay, to show that the old process serves meanwhile, and a
// `[PID: n]` prefix on every log line, like Go's log.SetPrefix.
await new Promise((resolve) => setTimeout(resolve, 1000));
const log = (...args: unknown[]) => console.log(`[PID: ${process.pid}] ${timestamp()}`, ...args);

// SIGHUP triggers the upgrade.
const stopSignals = upg.upgradeOnSignal("SIGHUP", (err) => log("Upgrade failed:", err.message));

// A plain HTTP server: /version answers the version of this build.
const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/version") {
    log(version);
    res.end(version + "\n");
  } else {
    res.statusCode = 404;
    res.end("not found\n");
  }
});
const drain = new HttpDrain(server);

// Listen through the upgrader: adopts the parent's socket after an upgrade.
const native = process.env.DEMO_SERVER === "native" ||
  process.argv.some((a, i) =>
    a === "--server=native" || a === "native" && process.argv[i - 1] === "--server"
  );
// (Loaded before listening: nothing may be awaited between listen and serving.)
const nativeModule = native ? await import("../native.ts") : undefined;
let listener;
try {
  listener = await upg.listen("tcp", address, native ? undefined : server);
} catch (err) {
  log("Can't listen:", (err as Error).message);
  process.exit(1);
}
const nativeServer = nativeModule ? await serveNative(nativeModule, listener) : undefined;

await upg.ready();
await upg.exit;
stopSignals();

// Give the old process 30 s to drain, then end it.
setTimeout(() => {
  log("Graceful shutdown timed out");
  process.exit(1);
}, 30_000).unref();

// Wait for in-flight requests to finish, without resetting keep-alive clients.
if (nativeServer) await nativeServer.shutdown({ timeout: 30_000, spread });
else await drain.shutdown({ listeners: [listener], timeout: 30_000, spread });

/** Serves /version with Bun.serve or Deno.serve on the upgrader's listener. */
async function serveNative(
  { serveBun, serveDeno }: typeof import("../native.ts"),
  ln: import("node:net").Server,
) {
  const handler = (req: Request) => {
    if (req.method === "GET" && new URL(req.url).pathname === "/version") {
      log(version);
      return new Response(version + "\n");
    }
    return new Response("not found\n", { status: 404 });
  };
  const onEvent = (e: { type: string; reason?: string }) => {
    if (e.type === "native-fallback") log("Native server unavailable, using node:http:", e.reason);
  };
  return "Bun" in globalThis
    ? await serveBun(ln, { fetch: handler, onEvent })
    : await serveDeno(ln, handler, { onEvent, acceptLoops });
}

/** Go's default log timestamp: 2021/07/04 15:02:47. */
function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
