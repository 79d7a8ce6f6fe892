// Http2Drain with h2load (nghttp2-client) against a node:http2 server, in
// cleartext and over TLS: back-to-back h2load runs across two upgrades see 0
// failed streams, each old generation's sessions get GOAWAY and end at once
// (so the next upgrade is not refused with ERR_PARENT_ALIVE), and every
// stream h2load completed was answered by one of the generations. (h2load
// does not reconnect after a GOAWAY: the run that spans an upgrade ends its
// clients there; the next run connects to the new generation.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { type Fixture, type Line, RUNTIME, startFixture } from "./_helpers.ts";

/**
 * Deno 2.9.6's node:http2 server aborts the process: with `free(): invalid
 * pointer` when a generation that adopted its listener (`listen({ fd })`)
 * closes it or exits (generation 0, which bound its own, does not; node:http
 * on the same path does not), and, fed through a `node:net` listener instead,
 * now and then with nghttp2's assertion `stream->closed_next == NULL` in
 * `find_stream_on_goaway_func` when h2load ends its sessions.
 */
const SKIP = RUNTIME === "deno";

/** One h2load run's request counters. */
interface Run {
  total: number;
  started: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  output: string;
}

/**
 * Runs h2load for one second: 4 clients, one stream at a time each. (Not
 * `--rps`: rate-limited h2load submits requests after a GOAWAY, which its
 * own nghttp2 then refuses to send, and counts them as failed.)
 */
function h2load(url: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn("h2load", ["-c", "4", "-m", "1", "-D", "1", url], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => output += d);
    child.stderr.on("data", (d) => output += d);
    child.once("error", reject);
    child.once("close", () => {
      const m =
        /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/
          .exec(output);
      if (!m) return reject(new Error(`h2load printed no counters:\n${output}`));
      const [total, started, done, succeeded, failed, errored, timeout] = m.slice(1).map(Number);
      resolve({ total, started, done, succeeded, failed, errored, timeout, output });
    });
  });
}

/** h2load runs back to back until `stop()`; resolves with every run. */
function h2loadLoop(url: string) {
  let running = true;
  const runs: Run[] = [];
  const done = (async () => {
    while (running) runs.push(await h2load(url));
    return runs;
  })();
  return {
    stop: () => {
      running = false;
      return done;
    },
  };
}

/** Upgrades generation `from` (pid) and waits until the new one serves and the old one is gone. */
async function upgrade(fixture: Fixture, from: Line): Promise<Line> {
  const generation = (from.generation as number) + 1;
  fixture.signal("SIGHUP", from.pid);
  const ready = await fixture.waitFor({ event: "ready", generation });
  await fixture.waitFor({ event: "first-session", generation });
  await fixture.waitFor({ event: "parent-gone", generation });
  return ready;
}

for (const tls of [false, true]) {
  (SKIP ? test.skip : test)(
    `h2load over ${
      tls ? "TLS" : "cleartext"
    } HTTP/2 across two upgrades: 0 failed streams, GOAWAY ends the old sessions`,
    async () => {
      const fixture = startFixture("h2_server.ts", { H2_TLS: tls ? "1" : "0" });
      try {
        const port = await fixture.port(0);
        let current = await fixture.waitFor({ event: "ready", generation: 0 });
        const load = h2loadLoop(`${tls ? "https" : "http"}://127.0.0.1:${port}/`);
        await fixture.waitFor({ event: "first-session", generation: 0 });
        current = await upgrade(fixture, current);
        current = await upgrade(fixture, current);
        const runs = await load.stop();
        fixture.signal("SIGUSR1", current.pid);
        await fixture.waitFor({ event: "drained", generation: 2 });

        for (const run of runs) {
          assert.is(run.failed + run.errored + run.timeout, 0, run.output);
          assert.is(run.succeeded, run.done, run.output);
        }
        const drained = fixture.lines.filter((l) => l.event === "drained");
        assert.is(drained.length, 3);
        for (const d of drained) {
          assert.is(d.forced, 0, JSON.stringify(d));
          assert.is(d.timedOut, false, JSON.stringify(d));
          assert.ok((d.closed as number) <= (d.sessions as number), JSON.stringify(d));
          assert.ok((d.streams as number) > 0, `generation ${d.generation} served nothing`);
        }
        // The sessions open at each upgrade were ended by the GOAWAY, not by their clients.
        assert.ok(drained.slice(0, 2).some((d) => (d.closed as number) > 0));
        assert.not.ok(fixture.lines.some((l) => l.event === "upgrade-failed"));
        const succeeded = runs.reduce((n, r) => n + r.succeeded, 0);
        const started = runs.reduce((n, r) => n + r.started, 0);
        const answered = drained.reduce((n, d) => n + (d.streams as number), 0);
        // h2load stops counting the streams in flight when its duration ends.
        assert.ok(
          answered >= succeeded && answered <= started,
          `${succeeded} ${answered} ${started}`,
        );
      } finally {
        await fixture.killAll();
      }
    },
  );
}

test.run();
