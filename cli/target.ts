/**
 * How `tableflip upgrade` and `tableflip status` find a supervisor: by its
 * control socket, its pid, or its PID file.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import { defaultControlPath } from "../supervisor/control.ts";
import { type OptionSpec, parseArgs, type Parsed, usageError } from "./args.ts";

/** The options that name a supervisor. */
export const TARGET_OPTIONS: Record<string, OptionSpec> = {
  pid: { type: "string", value: "N", help: "the supervisor's pid" },
  "pid-file": { type: "string", value: "PATH", help: "read the supervisor's pid from this file" },
  control: { type: "string", value: "PATH", help: "the supervisor's control socket" },
};

/** Where a supervisor is: its pid (if known) and its control socket (if it exists). */
export interface Target {
  pid: number | undefined;
  control: string | undefined;
}

/** Resolves the target from the parsed options; throws `ERR_USAGE` if none names one. */
export function findTarget(options: Parsed["options"], command: string): Target {
  let pid: number | undefined;
  if (options.pid !== undefined) {
    if (!/^\d+$/.test(options.pid as string)) {
      throw usageError(`--pid ${JSON.stringify(options.pid)}: expected a process id`, command);
    }
    pid = Number(options.pid);
  } else if (options["pid-file"] !== undefined) {
    const path = options["pid-file"] as string;
    let text: string;
    try {
      text = readFileSync(path, "utf8").trim();
    } catch (error) {
      throw usageError(`cannot read --pid-file ${path}: ${(error as Error).message}`, command);
    }
    if (!/^\d+$/.test(text)) {
      throw usageError(`--pid-file ${path} holds no pid (${JSON.stringify(text)})`, command);
    }
    pid = Number(text);
  }
  let control = options.control as string | undefined;
  if (control === undefined && pid !== undefined) {
    const guess = defaultControlPath(pid, process.env);
    if (existsSync(guess)) control = guess;
  }
  if (pid === undefined && control === undefined) {
    throw usageError("name the supervisor with --pid, --pid-file or --control", command);
  }
  return { pid, control };
}

/**
 * The command line of a verb that talks to a running supervisor: its options
 * and target, or `undefined` when `--help` was asked for (and printed).
 * Throws `ERR_USAGE` for stray arguments or no target.
 */
export function parseTargetCommand(
  argv: string[],
  specs: Record<string, OptionSpec>,
  command: string,
  help: string,
): { options: Parsed["options"]; target: Target } | undefined {
  const { options, rest } = parseArgs(argv, specs, command);
  if (options.help) {
    console.log(help);
    return undefined;
  }
  if (rest.length) throw usageError(`unexpected argument ${JSON.stringify(rest[0])}`, command);
  return { options, target: findTarget(options, command) };
}
