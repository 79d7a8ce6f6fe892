/**
 * A small application, written the way the test kit expects: its server code
 * takes the Upgrader as a parameter, so a unit test can pass the kit's one
 * (see app.test.ts and the README's "Testing your server").
 */
import http from "node:http";
import { type DrainResult, HttpDrain, type Upgrader } from "../../mod.ts";

/** Starts the server on `upg`; `done` resolves once a new generation took over and this one drained. */
export function startApp(upg: Upgrader): { done: Promise<DrainResult> } {
  const server = http.createServer((_req, res) => res.end("hello\n"));
  const drain = new HttpDrain(server);
  const done = (async () => {
    const listener = await upg.listen("tcp", ":8080", server);
    await upg.ready();
    await upg.exit; // a new generation is ready
    return await drain.shutdown({ listeners: [listener], timeout: 5_000 });
  })();
  return { done };
}
