// A bounded HTTP load for zero-downtime tests: a few client loops, some on
// keep-alive connections and some with a new connection per request.
import http from "node:http";

/** What a load run saw. */
export interface LoadReport {
  ok: number;
  failed: number;
  /** Failure descriptions (error codes or statuses), at most 20 kept. */
  errors: string[];
  /** Every response body, in the order they arrived. */
  bodies: string[];
}

/** A load that runs until `stop()` (or `maxRequests`) and then reports. */
export class Load {
  readonly report: LoadReport = { ok: 0, failed: 0, errors: [], bodies: [] };
  #running = true;
  #loops: Promise<void>[] = [];
  #agents: http.Agent[] = [];
  #waiters: { target: number; resolve: () => void }[] = [];
  #live = 0;

  constructor(
    target: { port: number; path?: string },
    options: { keepAlive?: number; fresh?: number; maxRequests?: number; pace?: number } = {},
  ) {
    // A paced load (like the seed's curl loop, only faster) leaves CPU for the
    // servers under test on a small machine; the budget bounds every run.
    const { keepAlive = 2, fresh = 2, maxRequests = 20_000, pace = 2 } = options;
    let budget = maxRequests;
    const loop = async (agent: http.Agent | false) => {
      while (this.#running && budget-- > 0) {
        if (pace > 0) await new Promise((r) => setTimeout(r, pace));
        try {
          const body = await request(target.port, target.path ?? "/", agent);
          this.report.ok++;
          this.report.bodies.push(body);
        } catch (error) {
          this.report.failed++;
          if (this.report.errors.length < 20) this.report.errors.push(String(error));
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
    return new Promise((resolve) => {
      this.#waiters.push({ target, resolve });
      this.#wake();
    });
  }

  #done(): number {
    return this.report.ok + this.report.failed;
  }

  #wake(): void {
    const done = this.#done();
    this.#waiters = this.#waiters.filter((w) => {
      if (w.target > done && this.#running && this.#live > 0) return true;
      w.resolve();
      return false;
    });
  }

  /** Stops the loops and returns the report. */
  async stop(): Promise<LoadReport> {
    this.#running = false;
    this.#wake();
    await Promise.all(this.#loops);
    for (const agent of this.#agents) agent.destroy();
    return this.report;
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
    req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
    req.on("error", (e: NodeJS.ErrnoException) => reject(new Error(e.code ?? e.message)));
  });
}
