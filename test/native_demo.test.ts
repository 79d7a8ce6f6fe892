// End to end: the demo in native mode (`DEMO_SERVER=native`: Bun.serve or
// Deno.serve on the upgrader's socket), upgraded by SIGHUP three times under
// keep-alive and per-request load, loses no request. Bun and Deno only.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { RUNTIME } from "./_helpers.ts";
import { upgradeDemoThrice } from "./_demo.ts";
import { loadFor } from "./_load.ts";

if (RUNTIME !== "bun" && RUNTIME !== "deno") {
  console.log(`native_demo: not registered on ${RUNTIME}: native servers are Bun and Deno only`);
} else {
  for (const mode of ["keep-alive", "close"] as const) {
    test(`the native demo (${RUNTIME}) upgrades 3 times under ${mode} load with 0 failed`, async () => {
      await upgradeDemoThrice({
        env: { DEMO_SERVER: "native" },
        load: loadFor(mode),
        check: (demo) => {
          const text = demo.lines.filter((l) => l.event === "text").map((l) => String(l.text));
          assert.not.ok(
            text.some((t) => t.includes("Native server unavailable")),
            `a generation fell back to node:http:\n${text.filter((t) => !/ v0\.0\.\d$/.test(t))}`,
          );
        },
      });
    });
  }
}

test.run();
