/**
 * `tableflip run [options] -- <command...>`: start the supervisor.
 *
 * @module
 */
import { resolve } from "node:path";
import process from "node:process";
import { DEFAULT_BACKOFF } from "../supervisor/backoff.ts";
import { supervisorBackend } from "../supervisor/backend.ts";
import { defaultControlPath, serveControl } from "../supervisor/control.ts";
import { usableCpus } from "../supervisor/cpus.ts";
import { parseListen } from "../supervisor/listen_spec.ts";
import { supervisorNotifier } from "../supervisor/notify.ts";
import { Supervisor } from "../supervisor/supervisor.ts";
import {
  formatOptions,
  type OptionSpec,
  parseArgs,
  parseCount,
  parseDuration,
  usageError,
} from "./args.ts";

/** The options of `tableflip run`. */
export const RUN_OPTIONS: Record<string, OptionSpec> = {
  listen: {
    type: "list",
    value: "NET:ADDR",
    help: "hold a listener: tcp:[host]:port, tcp4:..., tcp6:..., unix:/path (repeatable)",
  },
  workers: {
    type: "string",
    value: "N|auto",
    help: "worker processes per generation, sharing the sockets (auto: usable CPUs; default 1)",
  },
  rolling: {
    type: "boolean",
    help: "upgrade one worker at a time (at most N+1 processes) instead of all at once",
  },
  "pid-file": {
    type: "string",
    value: "PATH",
    help: "write the supervisor's pid here (it never changes)",
  },
  "upgrade-timeout": {
    type: "string",
    value: "DUR",
    help: "how long a new generation may take to become ready (default 60s)",
  },
  "drain-timeout": {
    type: "string",
    value: "DUR",
    help:
      "how long a generation may drain, after an upgrade or on stop, before SIGKILL (default 30s)",
  },
  "max-draining": {
    type: "string",
    value: "N",
    help: "most generations draining at once; an upgrade beyond it is refused (default 4)",
  },
  "max-restarts": {
    type: "string",
    value: "N",
    help: "deaths within --restart-window that end the supervisor as a crash loop (default 5)",
  },
  "restart-window": { type: "string", value: "DUR", help: "the crash-loop window (default 60s)" },
  control: {
    type: "string",
    value: "PATH",
    help: "control socket for tableflip upgrade/status (default $RUNTIME_DIRECTORY, " +
      "$XDG_RUNTIME_DIR or /tmp, then tableflip-<uid>/<pid>.sock)",
  },
  "no-control": { type: "boolean", help: "no control socket (signals still work)" },
  help: { type: "boolean", help: "show this help" },
};

/** Help for `tableflip run`. */
export const RUN_HELP = `Usage: tableflip run [options] -- <command...>

Runs <command> as the service's current generation (--workers N copies of
it, sharing the sockets) and stays, with a pid that never changes, holding
the listening sockets. The command uses
tableflip's Upgrader as it would without a supervisor: listen(), ready(),
await exit. Sockets come from --listen and from systemd socket activation
(LISTEN_FDS); the application may listen only on those.

Signals: SIGHUP upgrades (a new generation starts; the old one drains only
once the new one is ready; with --rolling, one worker at a time). SIGTERM
and SIGINT are passed to every process; the supervisor exits with the
serving workers' exit code (128+n if signal n ended one). A worker that
dies while serving is restarted on the same sockets with back-off; a crash
loop stops restarting that worker, and the supervisor exits 1 once every
worker has given up.
With NOTIFY_SOCKET set it speaks sd_notify (READY, RELOADING, STOPPING,
STATUS). Durations: 500ms, 30s, 2m, or a plain number of seconds.

Options:
${formatOptions(RUN_OPTIONS)}

Example:
  tableflip run --listen tcp::8080 --pid-file /run/app.pid -- node server.js`;

/** Runs the supervisor until it stops; returns the exit code. */
export async function run(argv: string[]): Promise<number> {
  const { options, rest } = parseArgs(argv, RUN_OPTIONS, "run");
  if (options.help) {
    console.log(RUN_HELP);
    return 0;
  }
  if (rest.length === 0) throw usageError("missing the command to run after --", "run");
  const duration = (name: string, fallback: number) =>
    options[name] === undefined ? fallback : parseDuration(options[name] as string, name, "run");
  const count = (name: string, fallback: number, min = 1) =>
    options[name] === undefined ? fallback : parseCount(options[name] as string, name, "run", min);
  const listen = ((options.listen as string[] | undefined) ?? []).map(parseListen);
  const log = (message: string) => process.stderr.write(`tableflip[${process.pid}]: ${message}\n`);
  const backend = supervisorBackend();
  const notifier = supervisorNotifier(backend, (error) => log(`sd_notify: ${error.message}`));
  const supervisor = new Supervisor({
    command: rest,
    listen,
    workers: options.workers === "auto" ? usableCpus() : count("workers", 1),
    rolling: options.rolling === true,
    pidFile: options["pid-file"] ? resolve(options["pid-file"] as string) : undefined,
    upgradeTimeout: duration("upgrade-timeout", 60_000),
    drainTimeout: duration("drain-timeout", 30_000),
    maxDraining: count("max-draining", 4),
    backoff: {
      ...DEFAULT_BACKOFF,
      maxRestarts: count("max-restarts", DEFAULT_BACKOFF.maxRestarts, 0),
      window: duration("restart-window", DEFAULT_BACKOFF.window),
    },
    cwd: process.cwd(),
    log,
    backend,
    notifier,
  });
  if (!options["no-control"]) {
    const path = (options.control as string | undefined) ??
      defaultControlPath(process.pid, process.env);
    const close = await serveControl(path, async (request) => {
      if (request.cmd === "status") return { ok: true, ...supervisor.status() };
      if (request.cmd === "upgrade") return await supervisor.upgrade("tableflip upgrade");
      return {
        ok: false,
        code: "ERR_CONTROL",
        message: `unknown command ${JSON.stringify(request)}`,
      };
    });
    supervisor.onFinish(close);
    log(`control socket ${path}`);
  }
  try {
    await supervisor.start();
  } catch (error) {
    await supervisor.close(1);
    throw error;
  }
  return await supervisor.done;
}
