/**
 * One runtime's side of the runtimes cell (`mod.ts`): the same code, run as
 * a process of its own by Deno or by Bun, driven step by step so that the
 * parent can alternate the runtimes measurement by measurement.
 *
 * ```sh
 * deno run -A bench/cells/runtimes/child.ts <redis-url> <key-prefix>
 * bun --preload ./bench/cells/runtimes/bun_preload.ts bench/cells/runtimes/child.ts <redis-url> <key-prefix>
 * ```
 *
 * It reads one JSON step per line on stdin and answers each with one JSON
 * line on stdout (`{ ok: true, ... }` or `{ ok: false, error }`); progress
 * goes to stderr. Steps: `open` (connections, the uncontended subjects
 * warmed up, the many-holders cell filled), `ping`, `wake`, `uncontended`,
 * `handoff`, `holders`, `close` (releases and deletes what it wrote, then
 * exits). It exits when stdin closes. Only `node:` built-ins and the
 * repository's code (`npm:` packages through `bun_preload.ts` on Bun).
 *
 * @module
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { defaultContenders, handoffStrategies } from "../../shared/catalog.ts";
import { Connections } from "../../shared/connections.ts";
import type { Contender, Subject } from "../../shared/contenders.ts";
import { Lane, laneControl, runLanes } from "../../shared/lanes.ts";
import { idleWakes, pings, timedCycles } from "../../shared/probes.ts";
import { commandDelta, commandStats, deleteRun } from "../../shared/redis.ts";
import { ManyHolders } from "../holders/semaphores.ts";
import type { CloseReply, OpenReply, Step, StepReply } from "./protocol.ts";

/** This process's runtime and version. */
export function runtimeName(): string {
  const versions = process.versions as Record<string, string | undefined>;
  if (versions.bun) return `Bun ${versions.bun}`;
  if (versions.deno) return `Deno ${versions.deno}`;
  return `Node.js ${process.versions.node}`;
}

class Child {
  readonly #url: string;
  readonly #prefix: string;
  #connections: Connections | undefined;
  readonly #subjects = new Map<string, { contender: Contender; s: Subject }>();
  #holders: ManyHolders | undefined;
  readonly #names = new Set<string>();

  constructor(url: string, prefix: string) {
    this.#url = url;
    this.#prefix = prefix;
  }

  get #conn(): Connections {
    if (this.#connections === undefined) throw new Error("not open");
    return this.#connections;
  }

  #stats() {
    return commandStats(this.#conn.observer);
  }

  async open(step: Extract<Step, { op: "open" }>): Promise<OpenReply> {
    this.#connections = await Connections.open(this.#url);
    const signal = new AbortController().signal;
    for (const contender of defaultContenders()) {
      if (!step.uncontended.includes(contender.id)) continue;
      const name = `${this.#prefix}:u:${contender.id}`;
      this.#names.add(name);
      const s = await contender.open(this.#conn, name, 1, 0);
      this.#subjects.set(contender.id, { contender, s });
      await timedCycles(
        () => s.workers[0].acquire(signal),
        step.uncontendedWarmup,
      );
    }
    if (step.holders) {
      this.#holders = await ManyHolders.open(
        this.#url,
        this.#conn.observer,
        `${this.#prefix}:holders`,
        step.holders,
        (line) => console.error(line),
      );
    }
    return {
      runtime: runtimeName(),
      fillSeconds: this.#holders?.fillSeconds ?? NaN,
      fillRedisUsPerAcquire: this.#holders?.fillRedisUsPerAcquire ?? NaN,
    };
  }

  async ping(count: number): Promise<StepReply> {
    const samples = await pings(this.#conn.observer, count);
    return { samples, calls: 0, usec: 0 };
  }

  /** RPUSH from the observer after `settleMs` idle, to another client's BLPOP. */
  async wake(count: number, settleMs: number): Promise<StepReply> {
    const [waiter] = await this.#conn.ours(1);
    const samples = await idleWakes(
      waiter,
      this.#conn.observer,
      `${this.#prefix}:floor:wake`,
      count,
      settleMs,
    );
    return { samples, calls: 0, usec: 0 };
  }

  async uncontended(id: string, count: number): Promise<StepReply> {
    const entry = this.#subjects.get(id);
    if (entry === undefined) throw new Error(`no uncontended subject ${id}`);
    const signal = new AbortController().signal;
    const worker = entry.s.workers[0];
    const before = await this.#stats();
    const samples = await timedCycles(() => worker.acquire(signal), count);
    const delta = commandDelta(
      before,
      await this.#stats(),
      entry.contender.commands,
    );
    return { samples, calls: delta.calls, usec: delta.usec };
  }

  /** One lane of the controlled hand-off rounds (`shared/lanes.ts`). */
  async handoff(step: Extract<Step, { op: "handoff" }>): Promise<StepReply> {
    const strategy = handoffStrategies().find((s) =>
      s.contender.id === step.id
    );
    if (strategy === undefined) throw new Error(`no strategy ${step.id}`);
    const contender = strategy.contender;
    const name = `${this.#prefix}:h:${step.id}:${step.workers}`;
    this.#names.add(name);
    const subject = await contender.open(this.#conn, name, step.workers, 0);
    try {
      const lane = new Lane(subject, contender.label);
      const control = laneControl(
        step.warmup,
        step.rounds,
        step.settleMs,
        step.cellMs,
      );
      const before = await this.#stats();
      await runLanes(
        [lane],
        control,
        step.cellMs + 60_000,
        `hand-off ${contender.label} at W=${step.workers}`,
      );
      const delta = commandDelta(
        before,
        await this.#stats(),
        contender.commands,
      );
      return {
        samples: lane.samples,
        calls: delta.calls,
        usec: delta.usec,
        acquisitions: lane.acquisitions,
        toOldest: lane.toOldest,
      };
    } finally {
      await subject.close();
    }
  }

  /** One round of the many-holders cell: `{ small, large }`. */
  holders(
    step: Extract<Step, { op: "holders" }>,
  ): Promise<Record<"small" | "large", StepReply>> {
    if (this.#holders === undefined) throw new Error("no holders cell");
    return this.#holders.round(step.count, step.statCycles, step.first);
  }

  async close(): Promise<CloseReply> {
    let keysAfterRelease = NaN;
    try {
      if (this.#holders) keysAfterRelease = await this.#holders.close();
      await Promise.allSettled(
        [...this.#subjects.values()].map(({ s }) => s.close()),
      );
      if (this.#connections) {
        await deleteRun(this.#conn.observer, this.#prefix, this.#names);
      }
    } finally {
      await this.#connections?.close();
    }
    return { keysAfterRelease };
  }

  run(step: Step): Promise<unknown> {
    switch (step.op) {
      case "open":
        return this.open(step);
      case "ping":
        return this.ping(step.count);
      case "wake":
        return this.wake(step.count, step.settleMs);
      case "uncontended":
        return this.uncontended(step.id, step.count);
      case "handoff":
        return this.handoff(step);
      case "holders":
        return this.holders(step);
      case "close":
        return this.close();
    }
  }
}

/** Writes one line to stdout, resolving once it is handed to the pipe. */
function reply(value: unknown): Promise<void> {
  return new Promise((resolve) => {
    process.stdout.write(`${JSON.stringify(value)}\n`, () => resolve());
  });
}

async function main(): Promise<void> {
  const [url, prefix] = process.argv.slice(2).filter((a) => a !== "--");
  if (!url || !prefix) {
    throw new Error("usage: child.ts <redis-url> <key-prefix>");
  }
  const child = new Child(url, prefix);
  const lines = createInterface({ input: process.stdin });
  let closed = false;
  for await (const line of lines) {
    if (line.trim() === "") continue;
    const step = JSON.parse(line) as Step;
    try {
      const answer = await child.run(step);
      await reply({ ok: true, ...(answer as object) });
    } catch (error) {
      const message = error instanceof Error
        ? `${error.name}: ${error.message}`
        : String(error);
      await reply({ ok: false, error: message });
    }
    if (step.op === "close") {
      closed = true;
      break;
    }
  }
  if (!closed) await child.close().catch(() => {});
  // Leftover timers (ioredis, leases) must not keep the process alive.
  process.exit(0);
}

await main();
