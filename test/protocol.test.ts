// The manifest codec and address parser: every malformed input gets a typed
// error that names what was wrong.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeManifest, encodeManifest, type Manifest } from "../src/protocol.ts";
import { formatAddress, parseAddress } from "../src/address.ts";
import { TableflipError } from "../src/errors.ts";

const good: Manifest = {
  v: 1,
  parentPid: 100,
  generation: 2,
  control: 5,
  fds: [
    { fd: 3, kind: "listener", network: "tcp", address: "127.0.0.1:8080" },
    { fd: 4, kind: "file", name: "log" },
  ],
};

function rejects(text: string, code: string, pattern: RegExp): void {
  try {
    decodeManifest(text);
  } catch (error) {
    assert.instance(error, TableflipError);
    assert.is((error as TableflipError).code, code);
    assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable(`accepted ${text}`);
}

test("a manifest survives encode/decode unchanged", () => {
  assert.equal(decodeManifest(encodeManifest(good)), good);
});

test("a listener's copies survive encode/decode", () => {
  const withCopies: Manifest = {
    ...good,
    fds: [{ ...good.fds[0], copies: [6, 7, 8] } as Manifest["fds"][0], good.fds[1]],
  };
  assert.equal(decodeManifest(encodeManifest(withCopies)), withCopies);
});

test("unknown fields are ignored (forward compatible)", () => {
  const text = JSON.stringify({ ...good, future: true, fds: [{ ...good.fds[0], extra: 1 }] });
  assert.equal(decodeManifest(text).fds, [good.fds[0]]);
});

const bad: [string, string, RegExp][] = [
  ["not json", "{", /not valid JSON/],
  ["truncated", encodeManifest(good).slice(0, 40), /not valid JSON/],
  ["an array", "[]", /expected a JSON object/],
  ["null", "null", /expected a JSON object/],
  ["wrong version", JSON.stringify({ ...good, v: 2 }), /unsupported protocol version 2/],
  ["no version", JSON.stringify({ ...good, v: undefined }), /unsupported protocol version/],
  ["pid 0", JSON.stringify({ ...good, parentPid: 0 }), /parentPid: expected an integer >= 1/],
  ["pid as string", JSON.stringify({ ...good, parentPid: "1" }), /parentPid/],
  ["generation 0", JSON.stringify({ ...good, generation: 0 }), /generation/],
  [
    "control on stdio",
    JSON.stringify({ ...good, control: 2 }),
    /control: expected an integer >= 3/,
  ],
  [
    "fractional fd",
    JSON.stringify({ ...good, fds: [{ ...good.fds[0], fd: 3.5 }] }),
    /fds\[0\]\.fd/,
  ],
  ["fds missing", JSON.stringify({ ...good, fds: undefined }), /fds: expected an array/],
  ["entry not object", JSON.stringify({ ...good, fds: [3] }), /fds\[0\]: expected an object/],
  ["unknown kind", JSON.stringify({ ...good, fds: [{ fd: 3, kind: "pipe" }] }), /fds\[0\]\.kind/],
  [
    "unknown network",
    JSON.stringify({ ...good, fds: [{ ...good.fds[0], network: "udp" }] }),
    /fds\[0\]\.network: "udp"/,
  ],
  [
    "empty address",
    JSON.stringify({ ...good, fds: [{ ...good.fds[0], address: "" }] }),
    /fds\[0\]\.address: expected a non-empty string/,
  ],
  [
    "file without name",
    JSON.stringify({ ...good, fds: [{ fd: 4, kind: "file" }] }),
    /fds\[0\]\.name/,
  ],
  [
    "fd used twice",
    JSON.stringify({ ...good, fds: [good.fds[0], { ...good.fds[1], fd: 3 }] }),
    /fd 3 is used twice/,
  ],
  [
    "fd equal to control",
    JSON.stringify({ ...good, fds: [{ ...good.fds[0], fd: 5 }] }),
    /fd 5 is used twice/,
  ],
  [
    "same listener twice",
    JSON.stringify({ ...good, fds: [good.fds[0], { ...good.fds[0], fd: 6 }] }),
    /tcp listener 127\.0\.0\.1:8080 is listed twice/,
  ],
  ["too long", " ".repeat(70 * 1024), /longer than 65536 bytes/],
  [
    "copies not an array",
    JSON.stringify({ ...good, fds: [{ ...good.fds[0], copies: 6 }] }),
    /fds\[0\]\.copies: expected an array of at most 7 fds, got 6/,
  ],
  [
    "too many copies",
    JSON.stringify({ ...good, fds: [{ ...good.fds[0], copies: [6, 7, 8, 9, 10, 11, 12, 13] }] }),
    /fds\[0\]\.copies: expected an array of at most 7 fds/,
  ],
  [
    "a copy on stdio",
    JSON.stringify({ ...good, fds: [{ ...good.fds[0], copies: [2] }] }),
    /fds\[0\]\.copies\[0\]: expected an integer >= 3/,
  ],
  [
    "a copy on the control socket",
    JSON.stringify({ ...good, fds: [{ ...good.fds[0], copies: [5] }] }),
    /fds\[0\]\.copies\[0\]: fd 5 is used twice/,
  ],
  [
    "a copy on another entry's fd",
    JSON.stringify({ ...good, fds: [{ ...good.fds[0], copies: [6] }, { ...good.fds[1], fd: 6 }] }),
    /fds\[1\]\.fd: fd 6 is used twice/,
  ],
];
for (const [name, text, pattern] of bad) {
  test(`manifest rejected: ${name}`, () => rejects(text, "ERR_MANIFEST", pattern));
}

test("Go-style addresses parse and format canonically", () => {
  assert.equal(parseAddress("tcp", ":8080"), { network: "tcp", host: "", port: 8080 });
  assert.equal(parseAddress("tcp6", "[::1]:0"), { network: "tcp6", host: "::1", port: 0 });
  assert.equal(parseAddress("tcp", "LocalHost:1"), { network: "tcp", host: "localhost", port: 1 });
  assert.is(formatAddress(parseAddress("tcp6", "[::1]:80")), "[::1]:80");
  assert.equal(parseAddress("unix", "/run/app.sock"), { network: "unix", path: "/run/app.sock" });
});

for (
  const [network, address, pattern] of [
    ["tcp", "8080", /missing port/],
    ["tcp", "::1:80", /IPv6 host must be in brackets/],
    ["tcp", "host:99999", /port "99999" is not 0-65535/],
    ["tcp", "host:http", /port "http"/],
    ["unix", "", /the address is empty/],
  ] as const
) {
  test(`address rejected: ${network} ${JSON.stringify(address)}`, () => {
    try {
      parseAddress(network, address);
      assert.unreachable("accepted");
    } catch (error) {
      assert.is((error as TableflipError).code, "ERR_INVALID_ARGUMENT");
      assert.match((error as Error).message, pattern);
    }
  });
}

test.run();
