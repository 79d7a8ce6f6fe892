/**
 * tableflip: graceful, zero-downtime process upgrades for Node, Bun and Deno.
 *
 * A running server re-executes itself, hands its listening sockets to the new
 * process, waits until that process is ready, then drains and exits. A port
 * of Cloudflare's Go `tableflip`.
 *
 * ```ts
 * import http from "node:http";
 * import { HttpDrain, Upgrader } from "tableflip";
 *
 * const upg = new Upgrader({ pidFile: "app.pid" });
 * const server = http.createServer((req, res) => res.end("hello\n"));
 * const drain = new HttpDrain(server);
 * upg.upgradeOnSignal("SIGHUP", (err) => console.error("Upgrade failed:", err));
 * const listener = await upg.listen("tcp", ":8080", server);
 * await upg.ready();
 * await upg.exit;
 * await drain.shutdown({ listeners: [listener], timeout: 30_000 });
 * ```
 *
 * @module
 */
import { Upgrader as CoreUpgrader, type UpgraderOptions } from "./src/upgrader.ts";
import { defaultBackend } from "./src/backend.ts";
import { createBackend } from "./runtimes/detect.ts";

/**
 * The {@link CoreUpgrader | Upgrader} of `src/upgrader.ts` with this entry
 * point's default: without a `backend` option it uses the backend of the
 * runtime it runs on (`createBackend()`, made once). The default is chosen
 * here, when an Upgrader is created, and not by an import side effect, so a
 * bundler that honours `sideEffects: false` keeps it.
 *
 * ```ts
 * const upg = new Upgrader({ pidFile: "app.pid" });
 * await upg.listen("tcp", ":8080", server);
 * await upg.ready();
 * await upg.exit; // a new generation took over: drain and exit
 * ```
 */
export class Upgrader extends CoreUpgrader {
  /**
   * Reads and checks the inherited-fd manifest, if any (see the core
   * constructor); `options.backend` defaults to this runtime's backend.
   */
  constructor(options: UpgraderOptions = {}) {
    super({ ...options, backend: options.backend ?? defaultBackend(createBackend) });
  }
}
export { DEFAULT_UPGRADE_TIMEOUT } from "./src/upgrader.ts";
export type { UpgradeOptions, UpgraderOptions } from "./src/upgrader.ts";
export type { EventHook, UpgradeEvent } from "./src/events.ts";
export type { Network } from "./src/address.ts";
export type {
  Backend,
  ConnectionHandler,
  ExitStatus,
  FdLayout,
  FdType,
  Listener,
  ParentLink,
  SpawnedChild,
  SpawnRequest,
} from "./src/backend.ts";
export {
  ChildDiedInProbationError,
  ChildExitedError,
  ChildTimeoutError,
  type ErrorCode,
  InheritedFdError,
  ManifestError,
  NotifySocketError,
  NotReadyError,
  ParentAliveError,
  PermissionError,
  PidFileError,
  StoppedError,
  SyscallError,
  TableflipError,
  UpgradeInProgressError,
} from "./src/errors.ts";
export { HttpDrain } from "./src/http_drain.ts";
export type { DrainOptions, DrainResult, ShutdownOptions } from "./src/http_drain.ts";
export { Http2Drain } from "./src/http2_drain.ts";
export type { Http2DrainResult, Http2ShutdownOptions } from "./src/http2_drain.ts";
export { EventStreamDrain } from "./src/event_stream_drain.ts";
export type {
  DrainableEventStream,
  EventStreamCloseOptions,
  EventStreamDrainOptions,
  EventStreamDrainResult,
} from "./src/event_stream_drain.ts";
export { GOING_AWAY, WebSocketDrain } from "./src/websocket_drain.ts";
export type {
  DrainableWebSocket,
  WebSocketCloseOptions,
  WebSocketDrainOptions,
  WebSocketDrainResult,
} from "./src/websocket_drain.ts";
export { MANIFEST_ENV, PROTOCOL_VERSION } from "./src/protocol.ts";
export { createBackend, detectRuntime, type RuntimeName } from "./runtimes/detect.ts";
export {
  Notifier,
  notifierFor,
  type NotifierOptions,
  NOTIFY_SOCKET_ENV,
  notifyMessage,
  type NotifySender,
  type NotifySocket,
  parseNotifySocket,
} from "./src/sd_notify.ts";
