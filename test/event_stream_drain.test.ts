// EventStreamDrain with EventSource-style clients (keep-alive connections,
// Last-Event-ID, `retry:`): at an upgrade every stream gets the goodbye and
// the hint and ends cleanly, every client reconnects to the new generation,
// and no event id is skipped or repeated.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EventEmitter } from "node:events";
import http from "node:http";
import { startFixture, until } from "./_helpers.ts";

const CLIENTS = 20;

/** A server-sent event, as an EventSource dispatches it. */
interface SseEvent {
  type: string;
  id: string;
  data: string;
}

/**
 * A client that behaves like EventSource: one keep-alive connection, events
 * parsed from `id:`, `event:`, `data:` and `retry:` lines; when a stream
 * ends it waits `retry` ms and reconnects with `Last-Event-ID`.
 */
class EventSourceClient {
  readonly events: SseEvent[] = [];
  /** How each stream ended: "end" (cleanly) or an error code. */
  readonly ends: string[] = [];
  readonly retries: number[] = [];
  /** The pid that sent the first event of each stream. */
  readonly pids: number[] = [];
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  readonly #port: number;
  readonly #changed: EventEmitter;
  #lastId = "";
  #retry = 1000;
  #running = true;
  #request?: http.ClientRequest;

  constructor(port: number, changed: EventEmitter) {
    this.#port = port;
    this.#changed = changed;
    this.#connect();
  }

  #connect(): void {
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (this.#lastId) headers["last-event-id"] = this.#lastId;
    let first = true;
    const request = this.#request = http.get({
      host: "127.0.0.1",
      port: this.#port,
      path: "/events",
      headers,
      agent: this.#agent,
    }, (res) => {
      let buffer = "";
      let event: SseEvent = { type: "message", id: "", data: "" };
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const text = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (text === "") {
            if (event.data) this.#dispatch(event, first);
            if (event.data) first = false;
            event = { type: "message", id: "", data: "" };
            continue;
          }
          const colon = text.indexOf(":");
          const field = text.slice(0, colon);
          const value = text.slice(colon + 1).trimStart();
          if (field === "id") event.id = value;
          else if (field === "event") event.type = value;
          else if (field === "data") event.data = value;
          else if (field === "retry") this.retries.push(this.#retry = Number(value));
        }
      });
      res.once("end", () => this.#ended("end"));
      res.once("error", (e: NodeJS.ErrnoException) => this.#ended(e.code ?? e.message));
    });
    request.once("error", (e: NodeJS.ErrnoException) => this.#ended(e.code ?? e.message));
  }

  #dispatch(event: SseEvent, first: boolean): void {
    if (event.id) this.#lastId = event.id;
    if (first) this.pids.push(JSON.parse(event.data).pid);
    this.events.push(event);
    this.#changed.emit("change");
  }

  #ended(how: string): void {
    if (!this.#running) return;
    this.ends.push(how);
    this.#changed.emit("change");
    setTimeout(() => this.#running && this.#connect(), this.#retry);
  }

  /** Stops reconnecting and closes the connection. */
  stop(): void {
    this.#running = false;
    this.#request?.destroy();
    this.#agent.destroy();
  }
}

test(`${CLIENTS} event streams end cleanly with a retry hint at an upgrade and resume on the new generation`, async () => {
  const fixture = startFixture("sse_server.ts");
  const changed = new EventEmitter().setMaxListeners(0);
  const clients: EventSourceClient[] = [];
  try {
    const port = await fixture.port(0);
    const oldPid = (await fixture.waitFor({ event: "ready", generation: 0 })).pid;
    for (let i = 0; i < CLIENTS; i++) clients.push(new EventSourceClient(port, changed));
    await until(changed, () => clients.every((c) => c.events.length >= 2), "first events");

    fixture.signal("SIGHUP");
    const newPid = (await fixture.waitFor({ event: "ready", generation: 1 })).pid;
    const fromNew = (c: EventSourceClient) =>
      c.events.filter((e) => e.type === "message" && JSON.parse(e.data).pid === newPid).length;
    await until(changed, () => clients.every((c) => fromNew(c) >= 2), "events from the new pid");
    const drained = await fixture.waitFor({ event: "drained", pid: oldPid });
    for (const c of clients) c.stop();

    for (const [i, c] of clients.entries()) {
      assert.equal(c.ends, ["end"], `client ${i} ends`);
      assert.equal(c.retries, [100], `client ${i} retry hints`);
      assert.equal(c.pids, [oldPid, newPid], `client ${i} pids`);
      const byes = c.events.filter((e) => e.type === "bye").map((e) => JSON.parse(e.data).pid);
      assert.equal(byes, [oldPid], `client ${i} goodbyes`);
      const ids = c.events.filter((e) => e.type === "message").map((e) => Number(e.id));
      assert.equal(ids, ids.map((_, k) => k + 1), `client ${i}: ids skipped or repeated`);
    }
    assert.is(drained.forced, 0);
    assert.is(drained.timedOut, false);
    assert.equal(drained.eventStreams, { closed: CLIENTS, forced: 0, timedOut: false });
  } finally {
    for (const c of clients) c.stop();
    await fixture.killAll();
  }
});

test.run();
