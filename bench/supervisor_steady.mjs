#!/usr/bin/env node
// Steady-state throughput of the demo through the supervisor vs. run
// directly, with no upgrades: both services run side by side and are loaded
// in turn, in alternating bursts (the order swapping every round, the first
// round warm-up), so drift in the machine's load hits both alike. A check on
// bench/supervisor_bench.mjs: tells a cost of serving under the supervisor
// apart from a cost of upgrading under it.
//
//   node bench/supervisor_steady.mjs [--runtime node22] [--conns 1000] [--mode keepalive]
//     [--rounds 4] [--burst 3]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { runtime as lookupRuntime } from "../scripts/runtimes.mjs";
import { freePort } from "../scripts/free_port.mjs";
import { startLoad } from "./lib/loadproc.mjs";
import { Service } from "./lib/service.mjs";

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node22" },
    conns: { type: "string", default: "1000" },
    mode: { type: "string", default: "keepalive" },
    rounds: { type: "string", default: "4" },
    burst: { type: "string", default: "3" },
  },
});
const runtimeName = lookupRuntime(values.runtime).name;
const connections = Number(values.conns);
const dir = mkdtempSync(join(tmpdir(), "tableflip-supsteady-"));
/** @type {Record<string, Service>} */
const services = {};
/** via -> [requests, seconds] summed over the counted rounds. */
const sums = { supervisor: [0, 0], direct: [0, 0] };
try {
  for (const via of ["supervisor", "direct"]) {
    services[via] = new Service({
      via,
      runtime: runtimeName,
      dir: mkdtempSync(join(dir, `${via}-`)),
      port: await freePort(),
    });
    await services[via].start();
  }
  for (let round = 0; round <= Number(values.rounds); round++) {
    const order = round % 2 === 0 ? ["supervisor", "direct"] : ["direct", "supervisor"];
    const line = [];
    for (const via of order) {
      const { done } = startLoad({
        kind: "http",
        port: services[via].port,
        path: "/version",
        connections,
        mode: values.mode,
        duration: Number(values.burst),
        dir,
      });
      const { start, end, resT, failures } = await done;
      const rate = resT.length / ((end - start) / 1000);
      const kinds = {};
      for (const [t, kind] of failures) (kinds[kind] ??= []).push(t / 1000);
      const detail = Object.entries(kinds)
        .map(([kind, ts]) =>
          `${ts.length} ${kind} at ${ts[0].toFixed(2)}-${ts.at(-1).toFixed(2)} s`
        );
      line.push(
        `${via} ${rate.toFixed(0)} req/s (${failures.length} failed${
          detail.length ? `: ${detail.join(", ")}` : ""
        })`,
      );
      if (round === 0) continue;
      sums[via][0] += resT.length;
      sums[via][1] += (end - start) / 1000;
    }
    process.stderr.write(`round ${round}${round === 0 ? " (warm-up)" : ""}: ${line.join(", ")}\n`);
  }
  const rate = ([n, s]) => n / s;
  const [sup, direct] = [rate(sums.supervisor), rate(sums.direct)];
  process.stdout.write(
    `${runtimeName} · ${values.mode} · ${connections} conns, ${values.rounds} rounds of ` +
      `${values.burst} s: supervisor ${sup.toFixed(0)} req/s, direct ${direct.toFixed(0)} req/s, ` +
      `ratio ${(sup / direct).toFixed(2)}\n`,
  );
} finally {
  for (const service of Object.values(services)) await service.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
