/**
 * A small command-line parser: `--name value`, `--name=value`, boolean
 * flags, repeatable options, and `--` before a command. Every mistake is an
 * `ERR_USAGE` error naming the option and where to read more; the CLI turns
 * it into exit code 2.
 *
 * @module
 */
import { TableflipError } from "../src/errors.ts";

/** How one option is read. */
export interface OptionSpec {
  /** `string` takes a value; `list` takes one each time it is given; `boolean` takes none. */
  type: "string" | "list" | "boolean";
  /** Placeholder for the value in help (`PATH`, `DUR`, ...). */
  value?: string;
  /** One line of help. */
  help: string;
}

/** The parsed command line. */
export interface Parsed {
  options: Record<string, string | string[] | boolean | undefined>;
  /** What follows `--` (or the first word that is not an option). */
  rest: string[];
}

/** Parses `argv` against `specs`; `command` names the verb for error messages. */
export function parseArgs(
  argv: string[],
  specs: Record<string, OptionSpec>,
  command: string,
): Parsed {
  const options: Parsed["options"] = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("--") || arg === "-") break;
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs[name];
    if (!spec) throw usageError(`unknown option --${name}`, command);
    if (spec.type === "boolean") {
      if (eq >= 0) throw usageError(`--${name} takes no value`, command);
      options[name] = true;
      continue;
    }
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith("--"))) {
      throw usageError(`--${name} needs a value (${spec.value ?? "VALUE"})`, command);
    }
    if (spec.type === "list") {
      options[name] = [...((options[name] as string[] | undefined) ?? []), value];
    } else {
      options[name] = value;
    }
    value = undefined;
  }
  return { options, rest: argv.slice(i) };
}

/** An `ERR_USAGE` error that points at `tableflip <command> --help`. */
export function usageError(message: string, command: string): TableflipError {
  return new TableflipError(
    "ERR_USAGE",
    `${message} (see: tableflip ${command ? `${command} ` : ""}--help)`,
  );
}

/**
 * A duration: `500ms`, `30s`, `2m`, `1h`, or a plain number of seconds (as
 * in systemd). Returns milliseconds; throws `ERR_USAGE` naming the option.
 */
export function parseDuration(text: string, option: string, command: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match?.[2] ?? "s"] ?? 1000;
  const ms = match ? Number(match[1]) * unit : NaN;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw usageError(
      `--${option} ${JSON.stringify(text)}: expected a duration like 30s, 500ms or 2m`,
      command,
    );
  }
  return Math.round(ms);
}

/** A whole number >= `min`; throws `ERR_USAGE` naming the option. */
export function parseCount(text: string, option: string, command: string, min = 1): number {
  if (!/^\d+$/.test(text) || Number(text) < min) {
    throw usageError(
      `--${option} ${JSON.stringify(text)}: expected a whole number >= ${min}`,
      command,
    );
  }
  return Number(text);
}

/** The help text for `specs`, one option per line. */
export function formatOptions(specs: Record<string, OptionSpec>): string {
  const rows = Object.entries(specs).map(([name, spec]) => [
    `--${name}${spec.type === "boolean" ? "" : ` ${spec.value ?? "VALUE"}`}`,
    spec.help,
  ]);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, help]) => `  ${left.padEnd(width)}${help}`).join("\n");
}
