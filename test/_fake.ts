// Helpers for the fake-backend tests: the upgrader's logic without processes.
import type { UpgradeEvent } from "../src/events.ts";
import type { Upgrader, UpgraderOptions } from "../src/upgrader.ts";
import { FakeBackend, type FakeBackendOptions } from "../src/testing/fake_backend.ts";
import type { FakeChild } from "../src/testing/fake_child.ts";
import { upgraderFor } from "../src/testing/process_upgrader.ts";

export { FakeBackend, upgraderFor };
export type { FakeChild };

/** An Upgrader on a fresh fake process, with its events recorded. */
export function fakeUpgrader(
  options: Omit<UpgraderOptions, "backend" | "onEvent"> = {},
  backendOptions: FakeBackendOptions = {},
): { backend: FakeBackend; upg: Upgrader; events: UpgradeEvent[] } {
  const backend = new FakeBackend(backendOptions);
  const events: UpgradeEvent[] = [];
  const upg = upgraderFor(backend, { ...options, onEvent: (e) => events.push(e) });
  return { backend, upg, events };
}

/** The event types seen so far, in order. */
export const types = (events: UpgradeEvent[]): string[] => events.map((e) => e.type);

/** A ready first generation listening on one fake TCP address (port 0 by default). */
export async function readyParent(
  options: Omit<UpgraderOptions, "backend" | "onEvent"> = {},
  address = "127.0.0.1:0",
): Promise<ReturnType<typeof fakeUpgrader> & { port: number }> {
  const made = fakeUpgrader(options);
  const listener = await made.upg.listen("tcp", address);
  await made.upg.ready();
  return { ...made, port: (listener.address() as { port: number }).port };
}

/** The next generation's Upgrader, run on a spawned child's own fake process. */
export function childUpgrader(
  child: FakeChild,
  options: Omit<UpgraderOptions, "backend" | "onEvent"> = {},
): { upg: Upgrader; events: UpgradeEvent[] } {
  const events: UpgradeEvent[] = [];
  const upg = upgraderFor(child.backend, { ...options, onEvent: (e) => events.push(e) });
  return { upg, events };
}

/** Rejection of `promise` as `{ code, message }`; fails if it resolves. */
export async function rejection(
  promise: Promise<unknown>,
): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error("expected a rejection");
}

/** Lets pending microtasks and one macrotask turn run. */
export const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));
