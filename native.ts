/**
 * Native servers on the upgrader's sockets: `Deno.serve`, `Deno.listen`,
 * `Bun.serve` and `Bun.listen` at full speed, on a listener returned by
 * `Upgrader#listen`.
 *
 * None of these APIs takes an fd, so on Linux the socket is moved under a
 * placeholder server's fd ("fd transplant", through libc FFI), then checked
 * with a self-connect probe. When that is not possible (another OS, a
 * missing permission, a failed probe), the same handler is served by the
 * portable `node:http` path on the same socket, and `onEvent` receives a
 * `native-fallback` event. A separate entry point from `mod.ts`, so that
 * Node users never load FFI code.
 *
 * Deno needs `--allow-net=127.0.0.1` and `--allow-ffi=<absolute path of
 * libc>` (e.g. `--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6`); Bun needs
 * nothing.
 *
 * ```ts
 * import { Upgrader } from "tableflip";
 * import { serveDeno } from "tableflip/native";
 *
 * const upg = new Upgrader({ pidFile: "app.pid" });
 * upg.upgradeOnSignal("SIGHUP");
 * const listener = await upg.listen("tcp", ":8080");
 * const server = await serveDeno(listener, () => new Response("hello\n"));
 * await upg.ready();
 * await upg.exit;
 * await server.shutdown({ timeout: 30_000 });
 * ```
 *
 * @module
 */
export { listenDeno, serveDeno } from "./runtimes/native/deno_serve.ts";
export type {
  DenoConn,
  DenoListener,
  DenoNetAddr,
  DenoServeHandler,
  DenoServeHandlerInfo,
  DenoServeOptions,
  ListenDenoResult,
  NativeDenoListener,
} from "./runtimes/native/deno_serve.ts";
export { listenBun, serveBun } from "./runtimes/native/bun_serve.ts";
export type {
  BunFetchHandler,
  BunServeOptions,
  BunServerLike,
  BunTcpListener,
  ListenBunOptions,
  ListenBunResult,
  NativeBunServer,
} from "./runtimes/native/bun_serve.ts";
export type {
  NativeEvent,
  NativeHttpServer,
  NativeKind,
  NativeOptions,
  NativeShutdownOptions,
} from "./runtimes/native/common.ts";
