// Preload (`node --import`, or NODE_OPTIONS so that child processes get it too)
// that makes every import of this repository's library source (mod.ts, src/,
// runtimes/) load the installed npm package's ES modules instead. The test
// stage uses it to run the test suite against the package users get.
//
//   TABLEFLIP_PACKAGE_ESM   file URL of the installed package's esm/ directory
//   TABLEFLIP_PACKAGE_LOG   optional: a file that gets one line per redirect
import { register } from "node:module";
import process from "node:process";

const esm = process.env.TABLEFLIP_PACKAGE_ESM;
if (!esm) throw new Error("use_package.mjs: TABLEFLIP_PACKAGE_ESM is not set");
register(new URL("./package_hooks.mjs", import.meta.url), {
  data: {
    root: new URL("../../", import.meta.url).href,
    esm: esm.endsWith("/") ? esm : `${esm}/`,
    log: process.env.TABLEFLIP_PACKAGE_LOG,
  },
});
