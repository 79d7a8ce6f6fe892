// runFirst: the drain's request hook fused with the server's one request
// listener (one listener costs Node less per event than two), or prepended
// when there is not exactly one; either way the application sees its own
// listener in listeners() and can remove it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EventEmitter, once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { HttpDrain } from "../mod.ts";
import { runFirst } from "../src/run_first.ts";
import { RUNTIME } from "./_helpers.ts";

test(`${RUNTIME}: one listener: fused; the hook runs first; listeners() and removeListener see the original`, () => {
  const e = new EventEmitter();
  const calls: string[] = [];
  const app = function (this: unknown, a: number, b: number) {
    calls.push(`app ${a} ${b} ${this === e}`);
  };
  e.on("request", app);
  runFirst(e, "request", (a: number, b: number) => calls.push(`hook ${a} ${b}`));
  assert.is(e.rawListeners("request").length, 1, "one listener, not two");
  assert.equal(e.listeners("request"), [app]);
  e.emit("request", 1, 2);
  assert.equal(calls, ["hook 1 2", "app 1 2 true"]);
  e.removeListener("request", app);
  assert.is(e.listenerCount("request"), 0);
});

test(`${RUNTIME}: no listener, two, or a once listener: the hook is prepended`, () => {
  for (const setup of ["none", "two", "once"] as const) {
    const e = new EventEmitter();
    const calls: string[] = [];
    if (setup === "two") e.on("x", () => calls.push("a")).on("x", () => calls.push("b"));
    if (setup === "once") e.once("x", () => calls.push("once"));
    runFirst(e, "x", () => calls.push("hook"));
    if (setup === "none") e.on("x", () => calls.push("later"));
    e.emit("x");
    e.emit("x");
    const expected = {
      none: ["hook", "later", "hook", "later"],
      two: ["hook", "a", "b", "hook", "a", "b"],
      once: ["hook", "once", "hook"],
    }[setup];
    assert.equal(calls, expected, setup);
  }
});

test(`${RUNTIME}: an HttpDrain on http.createServer(handler) leaves one request listener that still answers`, async () => {
  const handler = (_req: http.IncomingMessage, res: http.ServerResponse) => res.end("ok");
  const server = http.createServer(handler);
  const drain = new HttpDrain(server);
  assert.equal(server.listeners("request"), [handler]);
  assert.is(server.rawListeners("request").length, 1);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.is(await res.text(), "ok");
    assert.is(drain.connections, 1, "the fused hook tracked the connection");
  } finally {
    await drain.shutdown({ timeout: 2000 });
  }
});

test.run();
