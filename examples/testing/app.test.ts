// The README's test-kit example: runs unchanged under `node --test`, `bun test`
// and `deno test`; under uvu, import `test` from "uvu" and end with `test.run()`.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createTestKit } from "../../testing.ts";
import { startApp } from "./app.ts";

/** GET / on a fresh connection (no keep-alive, so the drain has nothing to wait for). */
const get = (port: number) =>
  new Promise<string>((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, agent: false }, (res) => {
      let body = "";
      res.on("data", (chunk) => body += chunk);
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });

test("serves on a real port, then drains once a new generation is ready", async () => {
  const kit = createTestKit();
  const app = startApp(kit.upgrader);
  await kit.ready; // the app called upgrader.ready()
  assert.equal(await get(kit.port()), "hello\n"); // a real ephemeral port, not :8080

  const next = await kit.upgrade(); // "a new generation is ready": upgrader.exit settles
  assert.deepEqual(next.manifest?.fds.map((fd) => fd.kind), ["listener"]); // the socket was passed
  const drained = await app.done; // the app's drain code ran
  assert.equal(drained.timedOut, false);
  assert.equal(kit.listeners()[0].listener.listening, false);
  await kit.close();
});
