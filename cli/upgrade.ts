/**
 * `tableflip upgrade`: ask a running supervisor for an upgrade.
 *
 * @module
 */
import process from "node:process";
import { askControl } from "../supervisor/control.ts";
import { formatOptions } from "./args.ts";
import { parseTargetCommand, TARGET_OPTIONS } from "./target.ts";

const OPTIONS = { ...TARGET_OPTIONS, help: { type: "boolean" as const, help: "show this help" } };

/** Help for `tableflip upgrade`. */
export const UPGRADE_HELP = `Usage: tableflip upgrade [--pid N | --pid-file PATH | --control PATH]

Upgrades a running supervisor: a new generation starts on the held sockets
and the serving one drains once the new one is ready. Through the control
socket it waits for the outcome: exit 0 when the new generation serves,
1 when the upgrade failed (the old generation keeps serving; the reason is
printed). Given only a pid whose control socket is not found, it sends
SIGHUP instead and cannot tell the outcome (see the supervisor's log).

Options:
${formatOptions(OPTIONS)}`;

/** Runs `tableflip upgrade`; returns the exit code. */
export async function upgrade(argv: string[]): Promise<number> {
  const parsed = parseTargetCommand(argv, OPTIONS, "upgrade", UPGRADE_HELP);
  if (!parsed) return 0;
  const { target } = parsed;
  if (!target.control) {
    process.kill(target.pid!, "SIGHUP");
    console.log(`sent SIGHUP to ${target.pid}; the outcome is in the supervisor's log`);
    return 0;
  }
  const answer = await askControl(target.control, { cmd: "upgrade" });
  if (answer.ok) {
    const pids = (answer.pids as number[] | undefined) ?? [answer.pid];
    console.log(`upgraded: generation ${answer.generation} (pid ${pids.join(", ")}) serves`);
    return 0;
  }
  console.error(`upgrade failed [${answer.code}]: ${answer.message}`);
  return 1;
}
