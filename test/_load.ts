// A bounded HTTP load for zero-downtime tests: a few client loops, some on
// keep-alive connections and some with a new connection per request (so every
// request goes through accept(), where a handover could lose it).
import http from "node:http";

/** What a load run saw. */
export interface LoadReport {
  ok: number;
  failed: number;
  /** Failures by kind: an error code (ECONNREFUSED, ECONNRESET, ...) or `status <n>`. */
  failedByKind: Record<string, number>;
  /** The first failures, described, at most 20. */
  errors: string[];
  /** Every response body, in the order they arrived. */
  bodies: string[];
  /** Requests answered, by the pid a JSON body named (fixture servers answer `{pid}`). */
  byPid: Record<string, number>;
  /** Those pids, in the order they first answered. */
  pids: number[];
}

/** How the clients of a {@link loadFor} load use connections. */
export type LoadMode = "keep-alive" | "close";

/** Options for `clients` loops that all keep connections alive, or all open one per request. */
export function loadFor(mode: LoadMode, clients = 4): LoadOptions {
  return mode === "keep-alive"
    ? { keepAlive: clients, fresh: 0, maxRequests: 100_000 }
    : { keepAlive: 0, fresh: clients, maxRequests: 100_000 };
}

/** Options for {@link Load}. */
export interface LoadOptions {
  /** Client loops on one persistent connection each. Default 2. */
  keepAlive?: number;
  /** Client loops with a new connection per request. Default 2. */
  fresh?: number;
  /** Total request budget, which bounds every run. Default 20 000. */
  maxRequests?: number;
  /** Pause between a loop's requests in ms, leaving CPU to the servers under test. Default 2. */
  pace?: number;
}

/** A load that runs until `stop()` (or its request budget) and then reports. */
export class Load {
  readonly report: LoadReport = {
    ok: 0,
    failed: 0,
    failedByKind: {},
    errors: [],
    bodies: [],
    byPid: {},
    pids: [],
  };
  #running = true;
  #live = 0;
  #loops: Promise<void>[] = [];
  #agents: http.Agent[] = [];
  #waiters: { match: () => boolean; resolve: () => void }[] = [];

  constructor(target: { port: number; path?: string }, options: LoadOptions = {}) {
    const { keepAlive = 2, fresh = 2, maxRequests = 20_000, pace = 2 } = options;
    let budget = maxRequests;
    const loop = async (agent: http.Agent | false) => {
      while (this.#running && budget-- > 0) {
        if (pace > 0) await new Promise((r) => setTimeout(r, pace));
        try {
          this.#answered(await request(target.port, target.path ?? "/", agent));
        } catch (error) {
          this.#failed(error as Error);
        }
        this.#wake();
      }
      this.#live--;
      this.#wake();
    };
    this.#live = keepAlive + fresh;
    for (let i = 0; i < keepAlive; i++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      this.#agents.push(agent);
      this.#loops.push(loop(agent));
    }
    for (let i = 0; i < fresh; i++) this.#loops.push(loop(false));
  }

  /** Resolves once `n` more requests have completed (successfully or not), or the load ended. */
  progress(n = 20): Promise<void> {
    const target = this.#done() + n;
    return this.#until(() => this.#done() >= target);
  }

  /** Resolves once `pid` has answered `n` requests in all (or the load ended). */
  servedBy(pid: number, n = 1): Promise<void> {
    return this.#until(() => (this.report.byPid[pid] ?? 0) >= n);
  }

  /** Stops the loops and returns the report. */
  async stop(): Promise<LoadReport> {
    this.#running = false;
    this.#wake();
    await Promise.all(this.#loops);
    for (const agent of this.#agents) agent.destroy();
    return this.report;
  }

  #answered(body: string): void {
    this.report.ok++;
    this.report.bodies.push(body);
    const pid = pidOf(body);
    if (pid === undefined) return;
    if (!(pid in this.report.byPid)) this.report.pids.push(pid);
    this.report.byPid[pid] = (this.report.byPid[pid] ?? 0) + 1;
  }

  #failed(error: Error): void {
    const kind = (error as NodeJS.ErrnoException).code ?? error.message;
    this.report.failed++;
    this.report.failedByKind[kind] = (this.report.failedByKind[kind] ?? 0) + 1;
    if (this.report.errors.length < 20) this.report.errors.push(kind);
  }

  #done(): number {
    return this.report.ok + this.report.failed;
  }

  #until(match: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters.push({ match, resolve });
      this.#wake();
    });
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (this.#running && this.#live > 0 && !w.match()) return true;
      w.resolve();
      return false;
    });
  }
}

function pidOf(body: string): number | undefined {
  if (!body.startsWith("{")) return undefined;
  try {
    const pid = JSON.parse(body).pid;
    return typeof pid === "number" ? pid : undefined;
  } catch {
    return undefined;
  }
}

function request(port: number, path: string, agent: http.Agent | false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => body += d);
      res.on("end", () => {
        if (res.statusCode === 200) resolve(body);
        else reject(new Error(`status ${res.statusCode}`));
      });
      res.on("error", reject);
    });
    req.setTimeout(
      10_000,
      () => req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })),
    );
    req.on("error", reject);
  });
}
