/**
 * What a plain `Upgrader` (no supervisor) tells systemd through sd_notify
 * when `NOTIFY_SOCKET` is set, so a `Type=notify` unit follows the main
 * process across upgrades: `READY=1` once generation 0 is ready,
 * `RELOADING=1` when an upgrade starts, `MAINPID=<new pid>` with `READY=1`
 * when the new generation took over, `READY=1` again when the upgrade failed,
 * `STOPPING=1` on `stop()`, and a `STATUS=` line with each.
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import type { TableflipError } from "./errors.ts";
import { type Notifier, notifierFor } from "./sd_notify.ts";

/** The service-manager side of one process's upgrades. */
export class ServiceNotify {
  readonly #notifier: Notifier | undefined;

  /** Off when `NOTIFY_SOCKET` is unset (or unreadable: Deno without `--allow-env` for it). */
  constructor(backend: Backend, onError: (error: TableflipError) => void) {
    let notifier: Notifier | undefined;
    try {
      notifier = notifierFor(backend, { onError });
    } catch (error) {
      onError(error as TableflipError);
    }
    this.#notifier = notifier?.enabled ? notifier : undefined;
  }

  /** This process (generation 0) is ready. */
  ready(pid: number): void {
    void this.#notifier?.ready(`generation 0 (pid ${pid}) serving`);
  }

  /** An upgrade to `generation` began. */
  reloading(generation: number): void {
    void this.#notifier?.reloading(`upgrading to generation ${generation}`);
  }

  /**
   * Generation `generation`, pid `pid`, took over: it is the main process
   * now. Resolves once the message is sent (or after `limitMs`): this
   * process exits soon after, and must not take the message with it.
   */
  async handedOver(pid: number, generation: number, limitMs = 1000): Promise<void> {
    if (!this.#notifier) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#notifier.mainPid(pid, {
        READY: 1,
        STATUS: `generation ${generation} (pid ${pid}) serving`,
      }),
      new Promise((resolve) => timer = setTimeout(resolve, limitMs)),
    ]);
    clearTimeout(timer);
  }

  /** The upgrade failed; this process, generation `generation`, serves on. */
  failed(pid: number, generation: number, error: TableflipError): void {
    void this.#notifier?.ready(
      `upgrade failed (${error.code}); generation ${generation} (pid ${pid}) serving`,
    );
  }

  /** The service is stopping. */
  stopping(pid: number): void {
    void this.#notifier?.stopping(`stopping (pid ${pid})`);
  }
}
