// The deployment files in docs/ are what users copy: every systemd unit passes
// `systemd-analyze verify` on this machine (ExecStart pointed at a binary that
// exists here), and the units, Dockerfiles and the Kubernetes Deployment keep
// the invariants docs/SYSTEMD.md and docs/CONTAINERS.md explain. The files do
// not depend on the runtime, so this runs once, on node22.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ROOT, RUNTIME, tempDir } from "./_helpers.ts";

const ONCE = RUNTIME === "node22";
const it = ONCE ? test : test.skip;
const DOCS = join(ROOT, "docs");
const UNITS = join(DOCS, "systemd");
const read = (...parts: string[]) => readFileSync(join(DOCS, ...parts), "utf8");

/** Runs `systemd-analyze verify` on `files` (in one directory); resolves with its output. */
function verify(files: string[]): { code: number | null; output: string } {
  const result = spawnSync("systemd-analyze", ["verify", ...files], { encoding: "utf8" });
  if (result.error) {
    throw new Error(`systemd-analyze: ${result.error.message} (.ci/run installs it)`);
  }
  return { code: result.status, output: (result.stdout + result.stderr).trim() };
}

/** systemd's major version, from `systemd-analyze --version`. */
function systemdVersion(): number {
  const out = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" }).stdout;
  const version = Number(/^systemd (\d+)/.exec(out)?.[1]);
  assert.ok(version > 0, `cannot read the systemd version from ${JSON.stringify(out)}`);
  return version;
}

/** Copies docs/systemd/ into a temp dir with each ExecStart's (absolute) binary replaced by /usr/bin/env. */
function unitsForVerify(): string {
  const dir = tempDir("tableflip-units-");
  for (const name of readdirSync(UNITS)) {
    const text = readFileSync(join(UNITS, name), "utf8").replace(
      /^ExecStart=(\S+)/gm,
      (_, binary: string) => {
        assert.ok(binary.startsWith("/"), `${name}: ExecStart needs an absolute path: ${binary}`);
        return "ExecStart=/usr/bin/env";
      },
    );
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** `Key=value` settings of a unit file, last one wins (comments and sections ignored). */
function settings(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) found.set(m[1], m[2]);
  }
  return found;
}

/** Seconds in a duration such as `30s`, `2min` or `45`. */
function seconds(duration: string): number {
  const m = /^(\d+)(s|min)?$/.exec(duration);
  assert.ok(m, `not a duration: ${duration}`);
  return Number(m![1]) * (m![2] === "min" ? 60 : 1);
}

/** The value after `flag` in an argv. */
function option(argv: string[], flag: string): string | undefined {
  const at = argv.indexOf(flag);
  return at < 0 ? undefined : argv[at + 1];
}

const SUPERVISED = ["tableflip-supervised.service", "tableflip-supervised-nosocket.service"];
const UNIT_FILES = [...SUPERVISED, "tableflip-classic.service", "tableflip-supervised.socket"];

it("docs/systemd holds the units the docs describe", () => {
  const present = readdirSync(UNITS);
  for (const name of [...UNIT_FILES, "notify-reload.conf"]) assert.ok(present.includes(name), name);
});

// Every unit in the directory, documented above or added later.
for (const name of readdirSync(UNITS).filter((n) => /\.(service|socket)$/.test(n)).sort()) {
  it(`systemd-analyze verify: ${name} is clean`, () => {
    const dir = unitsForVerify();
    const { code, output } = verify([join(dir, name)]);
    assert.is(code, 0, output);
    assert.is(output, "", `systemd-analyze verify ${name} printed:\n${output}`);
  });
}

it("notify-reload.conf: clean on systemd >= 253; 252 does not know the type", () => {
  const dir = unitsForVerify();
  for (const unit of SUPERVISED) {
    mkdirSync(join(dir, `${unit}.d`));
    copyFileSync(join(dir, "notify-reload.conf"), join(dir, `${unit}.d`, "notify-reload.conf"));
    const { code, output } = verify([join(dir, unit)]);
    assert.is(code, 0, output);
    if (systemdVersion() >= 253) {
      assert.is(output, "", output);
    } else {
      // The fact docs/SYSTEMD.md rests on: 252 ignores the line (and would run Type=simple).
      assert.is(
        output,
        `${join(dir, `${unit}.d`, "notify-reload.conf")}:5: ` +
          "Failed to parse service type, ignoring: notify-reload",
      );
    }
  }
  assert.equal(settings(read("systemd", "notify-reload.conf")).get("Type"), "notify-reload");
});

it("supervised units: Type=notify, tableflip run, stop timeout above the drain timeout", () => {
  for (const unit of SUPERVISED) {
    const s = settings(read("systemd", unit));
    assert.is(s.get("Type"), "notify", unit);
    // Node sends through systemd-notify, a pid of its own when not root.
    assert.is(s.get("NotifyAccess"), "all", unit);
    assert.is(s.get("ExecReload"), "/bin/kill -HUP $MAINPID", unit);
    assert.is(s.get("KillMode"), "mixed", unit);
    const argv = s.get("ExecStart")!.split(" ");
    assert.ok(argv[0].endsWith("/tableflip") && argv[1] === "run", `${unit}: ${argv.join(" ")}`);
    assert.ok(argv.includes("--"), `${unit}: the app command follows --`);
    const drain = seconds(option(argv, "--drain-timeout") ?? "30s");
    assert.ok(seconds(s.get("TimeoutStopSec")!) > drain, `${unit}: TimeoutStopSec <= drain`);
  }
  const nosocket = settings(read("systemd", "tableflip-supervised-nosocket.service"));
  assert.ok(nosocket.get("ExecStart")!.includes(" --listen tcp::8080 "));
  const withSocket = settings(read("systemd", "tableflip-supervised.service"));
  assert.not.ok(withSocket.get("ExecStart")!.includes("--listen"), "the .socket unit binds");
  assert.is(withSocket.get("Requires"), "tableflip-supervised.socket");
  const socket = settings(read("systemd", "tableflip-supervised.socket"));
  assert.is(socket.get("Service"), "tableflip-supervised.service");
});

it("classic unit: no supervisor, PIDFile= and ExecReload=/bin/kill -HUP $MAINPID", () => {
  const s = settings(read("systemd", "tableflip-classic.service"));
  assert.not.ok(s.get("ExecStart")!.includes("tableflip run"));
  assert.ok(s.get("PIDFile")?.startsWith("/run/"));
  assert.is(s.get("ExecReload"), "/bin/kill -HUP $MAINPID");
});

/** A Dockerfile's instructions: each instruction's arguments in file order (JSON arrays parsed). */
function dockerfile(name: string): Map<string, unknown[]> {
  const found = new Map<string, unknown[]>();
  const text = read("containers", name).replace(/\\\n/g, " ");
  for (const line of text.split("\n")) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const args = m[2].startsWith("[") ? JSON.parse(m[2]) : m[2];
    found.set(m[1], [...(found.get(m[1]) ?? []), args]);
  }
  return found;
}

/** The last (effective) `instruction` of a Dockerfile. */
function last(d: Map<string, unknown[]>, instruction: string): unknown {
  return d.get(instruction)?.at(-1);
}

const IMAGES: Record<string, RegExp> = {
  "Dockerfile.node": /^node:\d+-bookworm-slim$/,
  "Dockerfile.bun": /^oven\/bun:\d+\.\d+\.\d+$/,
  "Dockerfile.deno": /^denoland\/deno:\d+\.\d+\.\d+$/,
};

for (const [name, image] of Object.entries(IMAGES)) {
  it(`${name}: the supervisor is the ENTRYPOINT, STOPSIGNAL SIGTERM`, () => {
    const d = dockerfile(name);
    assert.match(String(last(d, "FROM")), image);
    assert.is(last(d, "STOPSIGNAL"), "SIGTERM");
    const entry = last(d, "ENTRYPOINT") as string[];
    const at = entry.findIndex((a) => /(\/tableflip|tableflip\/cli)$/.test(a));
    assert.ok(at >= 0 && entry[at + 1] === "run", `no "tableflip run" in ${entry.join(" ")}`);
    assert.is(entry.at(-1), "--", "CMD is the app command, after --");
    assert.ok(Array.isArray(last(d, "CMD")), "CMD in exec form");
    // Node cannot reap orphans as PID 1: tini is; the Bun and Deno supervisors reap themselves.
    if (name === "Dockerfile.node") {
      assert.equal(entry.slice(0, 2), ["/usr/bin/tini", "--"]);
      assert.ok(
        d.get("RUN")!.some((r) =>
          /apt-get install -y --no-install-recommends tini\b/.test(String(r))
        ),
        "tini from Debian",
      );
    } else {
      assert.not.ok(entry.some((a) => a.includes("tini")), `${name} needs no tini`);
    }
  });
}

it("deployment.yaml: grace period > preStop + drain timeout; same command as Dockerfile.node", () => {
  const yaml = read("kubernetes", "deployment.yaml");
  const grace = Number(/^ {6}terminationGracePeriodSeconds: (\d+)$/m.exec(yaml)?.[1]);
  const command = /^ {10}command:\n((?: {12}- .*\n)+)/m.exec(yaml)?.[1]
    .trimEnd().split("\n").map((l) => l.replace(/^ {12}- /, ""));
  assert.ok(command, "no container command");
  const entry = last(dockerfile("Dockerfile.node"), "ENTRYPOINT") as string[];
  assert.equal(command, entry);
  const drain = seconds(option(command!, "--drain-timeout")!);
  const preStop = /^ {12}preStop:\n {14}exec:\n {16}command: \["sleep", "(\d+)"\]$/m.exec(yaml);
  assert.ok(preStop, "no preStop sleep");
  const margin = grace - drain - Number(preStop![1]);
  assert.ok(margin >= 5, `grace ${grace} s leaves ${margin} s after preStop and drain`);
  assert.match(yaml, /^ {10}readinessProbe:\n {12}httpGet:\n/m);
  assert.match(yaml, /^ {6}maxUnavailable: 0$/m);
  assert.match(yaml, /kill -HUP 1/);
});

test.run();
