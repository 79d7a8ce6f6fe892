#!/usr/bin/env node
/**
 * The `tableflip` executable (npm `bin`; Deno: `deno run -A jsr:@tableflip/tableflip/cli`):
 * runs {@link main} with the command line and exits with its code.
 *
 * @module
 */
import process from "node:process";
import { main } from "./main.ts";

main(process.argv.slice(2)).then((code) => {
  // Let piped output drain before exiting (held sockets and timers would keep the loop alive).
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
});
