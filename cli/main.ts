/**
 * The `tableflip` command: `run` (the supervisor), `upgrade`, `status`.
 * Usage errors exit 2; other failures print the error's code and message
 * and exit 1.
 *
 * ```sh
 * tableflip run --listen tcp::8080 -- node server.js
 * tableflip upgrade --pid-file /run/app.pid
 * ```
 *
 * @module
 */
import { TableflipError } from "../src/errors.ts";
import { run } from "./run.ts";
import { status } from "./status.ts";
import { upgrade } from "./upgrade.ts";
import { usageError } from "./args.ts";

/** Help for `tableflip`. */
export const MAIN_HELP = `Usage: tableflip <command> [options]

Graceful, zero-downtime upgrades for Node, Bun and Deno servers.

Commands:
  run [options] -- <command...>   run a service under the supervisor
  upgrade [--pid|--pid-file|--control]   upgrade a running supervisor
  status [--json] [--pid|--pid-file|--control]   show its generations
  help [command]                  show help

Run "tableflip <command> --help" for a command's options.`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = { run, upgrade, status };

/** Runs the CLI with `argv` (without the executable and script); returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    if (verb === undefined || verb === "--help" || verb === "-h" || verb === "help") {
      if (verb === "help" && rest[0] && COMMANDS[rest[0]]) {
        return await COMMANDS[rest[0]](["--help"]);
      }
      console.log(MAIN_HELP);
      return verb === undefined ? 2 : 0;
    }
    const command = COMMANDS[verb];
    if (!command) throw usageError(`unknown command ${JSON.stringify(verb)}`, "");
    return await command(rest);
  } catch (error) {
    if (error instanceof TableflipError) {
      console.error(`tableflip: ${error.message} [${error.code}]`);
      return error.code === "ERR_USAGE" ? 2 : 1;
    }
    throw error;
  }
}
