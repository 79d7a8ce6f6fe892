/**
 * `tableflip status`: what a running supervisor serves.
 *
 * @module
 */
import { askControl } from "../supervisor/control.ts";
import { formatStatus, type StatusReport } from "../supervisor/status.ts";
import { formatOptions, usageError } from "./args.ts";
import { parseTargetCommand, TARGET_OPTIONS } from "./target.ts";

const OPTIONS = {
  ...TARGET_OPTIONS,
  json: { type: "boolean" as const, help: "print JSON instead of a table" },
  help: { type: "boolean" as const, help: "show this help" },
};

/** Help for `tableflip status`. */
export const STATUS_HELP =
  `Usage: tableflip status [--json] [--pid N | --pid-file PATH | --control PATH]

Prints the supervisor's pid and uptime, the listeners it holds, and every
generation with its worker slot, pid, state (starting, serving, draining)
and uptime. Needs the control socket.

Options:
${formatOptions(OPTIONS)}`;

/** Runs `tableflip status`; returns the exit code. */
export async function status(argv: string[]): Promise<number> {
  const parsed = parseTargetCommand(argv, OPTIONS, "status", STATUS_HELP);
  if (!parsed) return 0;
  const { options, target } = parsed;
  if (!target.control) {
    throw usageError(`no control socket found for pid ${target.pid}; pass --control`, "status");
  }
  const { ok: _ok, ...report } = await askControl(target.control, { cmd: "status" });
  console.log(
    options.json
      ? JSON.stringify(report, null, 2)
      : formatStatus(report as unknown as StatusReport),
  );
  return 0;
}
