// A real sd_notify receiver for tests: test/fixtures/dgram_receiver.py, a
// python3 AF_UNIX/SOCK_DGRAM socket bound to a path or an abstract @name,
// one JSON line per datagram received.
import { join } from "node:path";
import { Fixture, type Line, ROOT } from "./_helpers.ts";

const RECEIVER = join(ROOT, "test", "fixtures", "dgram_receiver.py");

/** A running receiver bound to `address`; resolves once it is bound. */
export async function receiver(address: string): Promise<Fixture> {
  const r = new Fixture(["python3", RECEIVER, address], {});
  await r.waitFor({ event: "bound" });
  return r;
}

/** Stops a receiver a test started. */
export async function stopReceiver(r: Fixture): Promise<void> {
  r.child.kill("SIGKILL");
  await r.exited;
}

/** Every datagram received so far, in order. */
export function datagrams(r: Fixture): Line[] {
  return r.lines.filter((l) => l.event === "datagram");
}

/** The messages received so far, without systemd-notify's `BARRIER=1` datagrams. */
export function messages(r: Fixture): string[] {
  return datagrams(r).map((l) => String(l.data)).filter((d) => d !== "BARRIER=1");
}

/** Resolves with the messages once `count` of them (barriers aside) have arrived. */
export async function receivedMessages(r: Fixture, count: number): Promise<string[]> {
  await r.waitFor(() => messages(r).length >= count);
  return messages(r);
}
