// The version line of a runtime from scripts/runtimes.mjs.
import { spawn } from "node:child_process";
import { runtime as lookupRuntime } from "../../scripts/runtimes.mjs";

/** "v22.x.y", "1.x.y" or "deno 2.x.y" for runtime `name`. */
export function versionOf(name) {
  const rt = lookupRuntime(name);
  return new Promise((resolve) => {
    const child = spawn(rt.exe, ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d) => out += d);
    // "deno 2.9.6 (stable, release, ...)" -> "deno 2.9.6"
    child.once("exit", () => resolve(out.split("\n")[0].replace(/\s*\(.*$/, "").trim()));
  });
}
