// The framework examples (examples/frameworks/: Express 5, Fastify 5, Koa,
// Hono) under load across two SIGHUP upgrades: 0 failed requests, the PID
// file names each new generation, and each old one exits. On Node (the
// frameworks' own code is the same on every runtime), and Hono also on Bun and
// Deno, where it runs on Bun.serve / Deno.serve through tableflip/native (a
// fallback to node:http would print to stderr, which must stay empty).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
// @ts-types="../scripts/runtimes.d.mts"
import { commandFor } from "../scripts/runtimes.mjs";
import { Fixture, freePort, ROOT, RUNTIME, tempDir, waitForExit, waitForFile } from "./_helpers.ts";
import { Load } from "./_load.ts";

const FRAMEWORKS = ["express", "fastify", "koa", "hono"];
const ON_NODE = RUNTIME.startsWith("node");
/** Hono also runs on Bun and Deno, through tableflip/native. */
const runsOn = (name: string) => ON_NODE || name === "hono";

for (const name of FRAMEWORKS) {
  (runsOn(name) ? test : test.skip)(`${name}: 0 failed requests across two upgrades`, async () => {
    const pidFile = join(tempDir(), "app.pid");
    const port = await freePort();
    const app = new Fixture(
      commandFor(RUNTIME, join(ROOT, "examples", "frameworks", `${name}.ts`)),
      { DEMO_ADDR: `127.0.0.1:${port}`, DEMO_PID_FILE: pidFile },
    );
    try {
      let pid = Number(await waitForFile(pidFile, (c) => c.trim() !== ""));
      const load = new Load({ port, path: "/version" }, {
        keepAlive: 2,
        fresh: 2,
        maxRequests: 20_000,
      });
      await load.progress(50);
      for (let i = 0; i < 2; i++) {
        const old = pid;
        app.signal("SIGHUP", old);
        pid = Number(await waitForFile(pidFile, (c) => c.trim() !== "" && Number(c) !== old));
        await waitForExit(old);
        await load.progress(50);
      }
      const report = await load.stop();
      assert.equal(report.failedByKind, {}, report.errors.join(", "));
      assert.ok(report.ok >= 150);
      assert.ok(report.bodies.every((b) => b === "v0.0.1\n"), report.bodies[0]);
      assert.is(Number(readFileSync(pidFile, "utf8")), pid);
      assert.equal(app.stderr, []);
    } finally {
      await app.killAll();
      try {
        process.kill(pidIn(pidFile), "SIGKILL");
      } catch { /* gone */ }
    }
  });
}

/** The pid in a PID file, or 0. */
function pidIn(file: string): number {
  try {
    return Number(readFileSync(file, "utf8")) || 0;
  } catch {
    return 0;
  }
}

test.run();
