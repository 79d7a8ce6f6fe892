// The public test kit (tableflip/testing): real ephemeral ports, no spawn,
// upgrades played on demand; and the README's example test under the suite
// runtime's own test runner and under uvu.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createTestKit } from "../testing.ts";
import { Upgrader } from "../mod.ts";
import { get, probe, ROOT, RUNTIME, tempDir, WAIT_LIMIT } from "./_helpers.ts";
// @ts-types="../scripts/runtimes.d.mts"
import { commandFor, runtime } from "../scripts/runtimes.mjs";

test("listen() binds a real ephemeral port on 127.0.0.1 whatever the address; clients connect", async () => {
  const kit = createTestKit();
  const server = http.createServer((_req, res) => res.end("kit\n"));
  const listener = await kit.upgrader.listen("tcp", ":8080", server);
  assert.is(listener, server);
  const port = kit.port();
  assert.is.not(port, 8080);
  assert.is((await get({ port })).body, "kit\n");
  await kit.close();
  assert.is(await probe(port), "ECONNREFUSED");
});

test("upgrade() resolves with the next generation once it is ready; exit settles; nothing spawned", async () => {
  const kit = createTestKit({ pidFile: "app.pid" });
  await kit.upgrader.listen("tcp", "127.0.0.1:0");
  await kit.upgrader.ready();
  await kit.ready;
  assert.is(kit.pidFile(), `${kit.upgrader.pid}\n`);
  const child = await kit.upgrade();
  await kit.upgrader.exit;
  assert.ok(child.released);
  assert.equal(child.manifest!.fds.map((f) => f.kind), ["listener"]);
  assert.equal(kit.events.map((e) => e.type).slice(-2), ["child-ready", "exiting"]);
  await kit.close();
});

test("upgrade(next) plays a failing next generation; the upgrader keeps running", async () => {
  const kit = createTestKit({ upgradeTimeout: 20 });
  await kit.upgrader.ready();
  const codes: string[] = [];
  for (const next of [{ exitCode: 1 }, { signal: "SIGSEGV" }, "hang"] as const) {
    try {
      await kit.upgrade(next);
    } catch (error) {
      codes.push((error as { code: string }).code);
    }
  }
  assert.equal(codes, ["ERR_CHILD_EXITED", "ERR_CHILD_EXITED", "ERR_CHILD_TIMEOUT"]);
  assert.not.ok(kit.upgrader.exitSignal.aborted);
  await kit.upgrade();
  assert.ok(kit.upgrader.exitSignal.aborted);
  await kit.close();
});

test("signal() reaches the application's upgradeOnSignal handler, never the real process", async () => {
  const kit = createTestKit();
  await kit.upgrader.ready();
  const failures: string[] = [];
  kit.upgrader.upgradeOnSignal("SIGHUP", (e) => failures.push(e.code));
  assert.is(kit.signal("SIGUSR2"), 0, "no handler for SIGUSR2");
  assert.is(kit.signal("SIGHUP", { exitCode: 2 }), 1);
  while (failures.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  assert.equal(failures, ["ERR_CHILD_EXITED"]);
  kit.signal("SIGHUP");
  await kit.upgrader.exit;
  await kit.close();
});

test("a kit's upgrader does not count against the process's one real Upgrader", async () => {
  const real = new Upgrader();
  const kit = createTestKit();
  const other = createTestKit();
  assert.is(kit.upgrader.runtime, "fake");
  await kit.close();
  await other.close();
  real.stop();
});

test("a unix listener is bound at the path given; port() throws without a TCP one", async () => {
  const path = join(tempDir(), "kit.sock");
  const kit = createTestKit();
  await kit.upgrader.listen("unix", path);
  assert.equal(kit.listeners().map((l) => [l.port, l.path]), [[undefined, path]]);
  assert.throws(() => kit.port(), /no TCP listener/);
  await kit.close();
});

// --- the README example, under test runners -----------------------------------

const EXAMPLE = join(ROOT, "examples", "testing", "app.test.ts");

/** Runs argv; resolves with its exit code and output. */
function run(argv: string[], cwd = ROOT): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (d) => output += d);
    child.stderr!.on("data", (d) => output += d);
    const timer = setTimeout(() => child.kill("SIGKILL"), WAIT_LIMIT);
    child.once("close", (code) => {
      clearTimeout(timer);
      // deno test colours its summary even with NO_COLOR set.
      resolve({
        code,
        output: output.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"), ""),
      });
    });
  });
}

/** The suite runtime's own test runner on `file`, and how its output says "1 passed, 0 failed". */
function nativeRunner(file: string): { argv: string[]; passed: RegExp } {
  const { exe, tsArgs } = runtime(RUNTIME);
  if (RUNTIME === "bun") return { argv: [exe, "test", file], passed: /^\s*1 pass\s*\n\s*0 fail/m };
  if (RUNTIME === "deno") {
    return {
      argv: [exe, "test", "--allow-net=127.0.0.1", file],
      passed: /ok \| 1 passed \| 0 failed/,
    };
  }
  return {
    argv: [exe, ...tsArgs, "--test", "--test-reporter=tap", file],
    passed: /^# pass 1\n# fail 0/m,
  };
}

test(`the README example passes under ${RUNTIME}'s own test runner`, async () => {
  const { argv, passed } = nativeRunner(EXAMPLE);
  const { code, output } = await run(argv);
  assert.is(code, 0, output);
  assert.ok(passed.test(output), output);
});

test("the README example passes under uvu with only its test import swapped", async () => {
  const dir = tempDir("tableflip-kit-");
  const url = (file: string) => JSON.stringify(pathToFileURL(join(ROOT, file)).href);
  const source = readFileSync(EXAMPLE, "utf8");
  const swapped = source
    .replace(
      `import { test } from "node:test";`,
      `import { test } from ${url("node_modules/uvu/dist/index.mjs")};`,
    )
    .replace(`"../../testing.ts"`, url("testing.ts"))
    .replace(`"./app.ts"`, url("examples/testing/app.ts")) + "\ntest.run();\n";
  assert.is.not(swapped, source + "\ntest.run();\n");
  const file = join(dir, "app.test.ts");
  writeFileSync(join(dir, "package.json"), `{ "type": "module" }\n`);
  writeFileSync(file, swapped);
  const { code, output } = await run(commandFor(RUNTIME, file), dir);
  assert.is(code, 0, output);
  assert.match(output, /Passed:\s+1\b/);
  assert.match(output, /Total:\s+1\b/);
});

test.run();
