// End to end: the seed demo, rebuilt with a new version and upgraded by
// SIGHUP three times under a real HTTP load, loses no request.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { upgradeDemoThrice } from "./_demo.ts";

test("the demo switches v0.0.1 -> v0.0.4 over 3 SIGHUPs with 0 failed requests", async () => {
  await upgradeDemoThrice({
    load: { keepAlive: 2, fresh: 2 },
    check: (demo, pid) => {
      const logged = demo.lines.filter((l) => l.event === "text").map((l) => String(l.text));
      const line = new RegExp(
        `^\\[PID: ${pid}\\] \\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d v0\\.0\\.4$`,
      );
      assert.ok(
        logged.some((t) => line.test(t)),
        "the last generation logs `[PID: n] date time v0.0.4`",
      );
    },
  });
});

test.run();
