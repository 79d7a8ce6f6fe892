// A forged or broken manifest on the fake backend: the constructor throws a
// typed error naming what is wrong, and nothing is adopted or bound.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakeBackend, upgraderFor } from "./_fake.ts";

const manifest = (fields: Record<string, unknown>) =>
  JSON.stringify({ v: 1, parentPid: 1, generation: 1, control: 3, fds: [], ...fields });
const tcpEntry = (fd: number) => ({ fd, kind: "listener", network: "tcp", address: "127.0.0.1:0" });

/** A fake process started with `text` as its manifest and fds of the given kinds. */
function started(text: string, fds: Record<number, "file" | "socket"> = {}): FakeBackend {
  const backend = new FakeBackend({ env: { TABLEFLIP_MANIFEST: text } });
  for (const [fd, kind] of Object.entries(fds)) backend.open(kind, Number(fd));
  return backend;
}

function refused(backend: FakeBackend, code: string, pattern: RegExp): void {
  assert.throws(
    () => upgraderFor(backend),
    (e: { code?: string; name: string; message: string }) =>
      e.code === code && pattern.test(e.message) || assert.unreachable(`${e.code}: ${e.message}`),
  );
  for (const step of ["adopt", "listen", "connectParent", "closeFd"] as const) {
    assert.not.ok(backend.calls.includes(step), `${step} was called`);
  }
}

for (
  const [name, text, pattern] of [
    ["not JSON", "{not json", /not valid JSON/],
    ["a JSON array", "[1,2]", /expected a JSON object/],
    ["another protocol version", manifest({ v: 99 }), /unsupported protocol version 99/],
    ["fds not an array", manifest({ fds: "3" }), /fds: expected an array/],
    ["a negative fd", manifest({ fds: [tcpEntry(-1)] }), /fds\[0\]\.fd/],
    ["an fd used twice", manifest({ control: 4, fds: [tcpEntry(4)] }), /used twice/],
    ["an unknown network", manifest({ fds: [{ ...tcpEntry(4), network: "sctp" }] }), /network/],
    ["an oversized manifest", manifest({ pad: "x".repeat(70_000) }), /longer than/],
  ] as const
) {
  test(`forged manifest (${name}): ERR_MANIFEST, nothing adopted`, () => {
    refused(started(text, { 3: "socket", 4: "socket" }), "ERR_MANIFEST", pattern);
  });
}

test("manifest naming closed fds: ERR_INHERITED_FD, nothing adopted", () => {
  refused(
    started(manifest({ control: 3, fds: [tcpEntry(40)] }), { 3: "socket" }),
    "ERR_INHERITED_FD",
    /inherited fd 40: tcp listener .* is not open/,
  );
  refused(
    started(manifest({ control: 41, fds: [] })),
    "ERR_INHERITED_FD",
    /inherited fd 41: the control socket is not an open socket/,
  );
});

test("manifest naming an fd of the wrong kind: ERR_INHERITED_FD, nothing adopted", () => {
  refused(
    started(manifest({ control: 4, fds: [tcpEntry(3)] }), { 3: "file", 4: "socket" }),
    "ERR_INHERITED_FD",
    /inherited fd 3: tcp listener .* is not a socket/,
  );
  refused(
    started(manifest({ control: 3, fds: [] }), { 3: "file" }),
    "ERR_INHERITED_FD",
    /control socket is not an open socket/,
  );
});

test("a file entry may be any open fd; the constructor keeps the manifest out of the environment", () => {
  const backend = started(manifest({ control: 3, fds: [{ fd: 4, kind: "file", name: "log" }] }), {
    3: "socket",
    4: "file",
  });
  // A control fd that is a socket but not a fake control channel: connectParent fails.
  assert.throws(() => upgraderFor(backend), /not the control socket/);
  assert.is(backend.getEnv("TABLEFLIP_MANIFEST"), undefined);
});

test.run();
