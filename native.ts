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
 * How the socket moves: the native server starts on 127.0.0.1:0 as a
 * placeholder; its listening fd and the poller registration the runtime made
 * for it (`/proc/self/fdinfo` of its epoll fd) are found; a copy of the
 * listener's socket replaces the placeholder under the same fd number
 * (`dup3`) and is registered again with the runtime's own events and token
 * (`epoll_ctl`). The `node:net` listener keeps its fd, so the upgrader
 * passes the very same socket to the next generation, but is unregistered
 * from its poller ("parked"): it accepts nothing any more. A self-connect
 * probe then proves the native server accepts; if anything fails, the
 * transplant is undone and `node:http` serves. Connections the `node:net`
 * listener accepted before it was parked are served (and answered with
 * `Connection: close`, so their clients come back to the native server).
 *
 * Call the entry point right after `upgrader.listen("tcp", address)` (with
 * no handler), before awaiting anything else: a `node:net` listener without
 * a "connection" handler leaves what it accepts unanswered.
 *
 * Drain with the returned server's `shutdown()`: it stops accepting without
 * closing the socket the next generation holds, answers with
 * `Connection: close` for `closeGrace` ms (keep-alive clients learn from a
 * response that the connection ends), then lets the runtime close idle
 * connections and waits for in-flight requests. 0 failed requests in the
 * tests, with keep-alive and per-request clients.
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
