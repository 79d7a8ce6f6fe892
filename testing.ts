/**
 * `tableflip/testing`: test an application's upgrade handling without
 * processes, and the upgrader's own logic without fds.
 *
 * - {@link createTestKit}: an `Upgrader` for an application's unit tests. It
 *   listens on real ephemeral ports of 127.0.0.1 but never spawns; the test
 *   says when "a new generation is ready", and the application's drain code
 *   runs. Works under uvu, `node --test`, `bun test` and `deno test`.
 * - {@link FakeBackend}: the in-memory backend under it (no processes, no
 *   fds), which plays both sides of the protocol and can fail at any step.
 *
 * ```ts
 * import { test } from "node:test";
 * import assert from "node:assert/strict";
 * import { createTestKit } from "tableflip/testing";
 * import { startApp } from "./app.ts";
 *
 * test("drains when a new generation is ready", async () => {
 *   const kit = createTestKit();
 *   const app = startApp(kit.upgrader);
 *   await kit.ready;
 *   const res = await fetch(`http://127.0.0.1:${kit.port()}/`);
 *   assert.equal(res.status, 200);
 *   await kit.upgrade();
 *   await app.done;
 *   await kit.close();
 * });
 * ```
 *
 * Like Go tableflip's `testing` package, this entry point loads no runtime
 * backend: importing it costs no FFI and needs no permission.
 *
 * @module
 */
export { createTestKit, TestKit } from "./src/testing/kit.ts";
export type { NextGeneration, TestKitOptions, TestListener } from "./src/testing/kit.ts";
export { FakeBackend, FakeSystem } from "./src/testing/fake_backend.ts";
export type { FakeBackendOptions, FakeFd } from "./src/testing/fake_backend.ts";
export { FakeChild } from "./src/testing/fake_child.ts";
export type { FakeSpawnRecord } from "./src/testing/fake_child.ts";
export { FakeFiles } from "./src/testing/fake_files.ts";
export type { FakeEntry } from "./src/testing/fake_files.ts";
export { FakeListener } from "./src/testing/fake_listener.ts";
export type { FakeSocket } from "./src/testing/fake_listener.ts";
export { Faults } from "./src/testing/faults.ts";
export type { FakeStep } from "./src/testing/faults.ts";
export { ChannelEnd, channelPair } from "./src/testing/fake_channel.ts";
export { upgraderFor } from "./src/testing/process_upgrader.ts";
