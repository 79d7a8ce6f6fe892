// The tableflip command line: help for every command, exit code 2 and a
// message that names the mistake for bad input, and the control socket
// closed to other users.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { ROOT, RUNTIME, tempDir } from "./_helpers.ts";
import { cgroupQuota, usableCpus } from "../supervisor/cpus.ts";
import { runCli, startSupervisor } from "./_supervisor.ts";
import { RUN_OPTIONS } from "../cli/run.ts";

/** The CLI's entry point, which user nobody must be able to read to run it. */
const CLI_ENTRY = join(ROOT, "cli", "bin.ts");
/** setpriv's arguments to run a command as user nobody, without groups. */
const AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

/**
 * In a checkout others cannot read (a clone under a 0700 `mktemp -d`),
 * nobody could not load the CLI at all: then it gets CAP_DAC_READ_SEARCH,
 * which lets it read files and search directories, not write. connect()
 * needs write access to the socket (0600), so it is still refused, by the
 * socket's mode rather than its directory's.
 */
function nobodyReadsCheckout(): string[] {
  try {
    execFileSync(AS_NOBODY[0], [...AS_NOBODY.slice(1), "--", "test", "-r", CLI_ENTRY]);
    return [];
  } catch {
    return ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"];
  }
}

// The CLI's parsing is the same code on every runtime: once is enough.
const only = RUNTIME === "node22" || RUNTIME === "bun" || RUNTIME === "deno";

if (only) {
  test("--help on every command, exit 0; run --help names every option", async () => {
    const top = await runCli(["--help"]);
    assert.is(top.code, 0);
    for (const verb of ["run", "upgrade", "status"]) assert.match(top.stdout, verb);
    for (const verb of ["run", "upgrade", "status"]) {
      const help = await runCli([verb, "--help"]);
      assert.is(help.code, 0, help.stderr);
      assert.match(help.stdout, `Usage: tableflip ${verb}`);
    }
    const run = await runCli(["help", "run"]);
    for (const name of Object.keys(RUN_OPTIONS)) assert.match(run.stdout, `--${name}`);
  });

  for (
    const [args, message] of [
      [[], /Usage: tableflip <command>/],
      [["frobnicate"], /unknown command "frobnicate"/],
      [["run"], /missing the command to run after --/],
      [["run", "--bogus", "--", "true"], /unknown option --bogus \(see: tableflip run --help\)/],
      [
        ["run", "--drain-timeout", "soon", "--", "true"],
        /--drain-timeout "soon": expected a duration/,
      ],
      [
        ["run", "--max-draining", "-1", "--", "true"],
        /--max-draining "-1": expected a whole number >= 1/,
      ],
      [["run", "--listen", "udp:1.2.3.4:5", "--", "true"], /unknown network "udp"/],
      [["run", "--listen", "tcp:localhost", "--", "true"], /missing port/],
      [["run", "--no-control=yes", "--", "true"], /--no-control takes no value/],
      [["run", "--workers", "0", "--", "true"], /--workers "0": expected a whole number >= 1/],
      [["run", "--workers", "many", "--", "true"], /--workers "many": expected a whole number/],
      [["upgrade"], /name the supervisor with --pid, --pid-file or --control/],
      [["upgrade", "--pid", "abc"], /--pid "abc": expected a process id/],
      [["status", "--pid-file", "/nonexistent/x.pid"], /cannot read --pid-file/],
    ] as const
  ) {
    test(`tableflip ${args.join(" ") || "(nothing)"}: exit 2, ${message}`, async () => {
      const result = await runCli([...args]);
      assert.is(result.code, 2, result.stdout + result.stderr);
      assert.match(result.stdout + result.stderr, message);
    });
  }

  test("--workers auto: the usable CPUs, capped by a cgroup v2 quota", () => {
    const dir = tempDir();
    const file = (text: string) => {
      const path = join(dir, `cpu.max.${text.replace(/\W/g, "_")}`);
      writeFileSync(path, `${text}\n`);
      return path;
    };
    assert.is(cgroupQuota(file("max 100000")), undefined);
    assert.is(cgroupQuota(file("150000 100000")), 2);
    assert.is(cgroupQuota(join(dir, "missing")), undefined);
    assert.is(usableCpus(file("max 100000")), availableParallelism());
    assert.is(usableCpus(file("50000 100000")), 1);
  });

  test("a port already taken: a typed ERR_LISTEN naming the address, exit 1", async () => {
    const sv = startSupervisor(["--listen", "tcp:127.0.0.1:0"], { listen: ["tcp 127.0.0.1:0"] });
    try {
      const port = await sv.f.port(1);
      const second = await runCli(["run", "--listen", `tcp:127.0.0.1:${port}`, "--", "true"]);
      assert.is(second.code, 1);
      assert.match(second.stderr, new RegExp(`cannot listen on tcp 127.0.0.1:${port}.*EADDRINUSE`));
    } finally {
      await sv.f.killAll();
    }
  });

  test("an unwritable --pid-file: ERR_PID_FILE naming the path and why, exit 1", async () => {
    const result = await runCli([
      "run",
      "--no-control",
      "--listen",
      "tcp:127.0.0.1:0",
      "--pid-file",
      "/nonexistent/dir/app.pid",
      "--",
      "true",
    ]);
    assert.is(result.code, 1);
    assert.match(
      result.stderr,
      /cannot write PID file \/nonexistent\/dir\/app.pid: ENOENT.*ERR_PID_FILE/,
    );
  });

  test("a control socket in a directory others may write to is refused, exit 1", async () => {
    const result = await runCli(["run", "--control", "/tmp/tableflip-test.sock", "--", "true"]);
    assert.is(result.code, 1);
    assert.match(
      result.stderr,
      /the control directory \/tmp must belong to uid \d+ and be writable/,
    );
  });

  test("the control socket refuses another user; signals still work", async () => {
    const sv = startSupervisor(["--listen", "tcp:127.0.0.1:0"], { listen: ["tcp 127.0.0.1:0"] });
    try {
      await sv.ready(1);
      const mine = await runCli(["status", "--control", sv.control]);
      assert.is(mine.code, 0, mine.stderr);
      // The same client as user nobody: the 0700 directory stops it at connect().
      const other = await runCli(["status", "--control", sv.control], {
        prefix: [...AS_NOBODY, ...nobodyReadsCheckout(), "--"],
        runtime: "node22",
        env: { NODE_OPTIONS: "" }, // nobody could not read a preload from root's temp dir
      });
      assert.is(other.code, 1, other.stdout + other.stderr);
      assert.match(other.stderr, /cannot reach the supervisor's control socket.*EACCES/);
      process.kill(sv.f.child.pid!, "SIGHUP");
      await sv.ready(2);
    } finally {
      await sv.f.killAll();
    }
  });
}

test.run();
