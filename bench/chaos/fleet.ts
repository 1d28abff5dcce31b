/**
 * The worker processes of the chaos run (`run.ts`; `worker.ts` by default):
 * spawned with `harness/spawn.ts`, their JSON lines merged as they come, who holds what
 * right now (to pick a victim), SIGKILL, SIGSTOP/SIGCONT.
 *
 * @module
 */
import process from "node:process";
import { type Script, startScript } from "../../harness/spawn.ts";
import { sleep } from "../shared/timing.ts";
import type { Lock, LogLine, WorkerLife } from "./types.ts";

/** One worker process. */
export interface Worker {
  life: WorkerLife;
  script: Script;
  closed: Promise<void>;
  /** Its current hold, from its `acq` line until its `end` line. */
  holding?: { lock: Lock; until: number };
  frozen: boolean;
  killed: boolean;
}

/** The worker processes, their merged log and the latest acquisitions. */
export class Fleet {
  readonly lines: LogLine[] = [];
  readonly all: Worker[] = [];
  readonly lastAcquired: Record<Lock, number> = { semaphore: 0, mutex: 0 };
  #next = 0;

  /**
   * `worker`: the script each worker runs; `args(w)`: its command line. A
   * worker that dies by itself before `respawnUntil` is replaced (at most
   * `maxSpawns` in all).
   */
  constructor(
    readonly worker: string,
    readonly args: (w: string) => string[],
    readonly respawnUntil: number,
    readonly maxSpawns: number,
  ) {}

  get live(): Worker[] {
    return this.all.filter((w) => !w.killed && w.life.exitedAt === undefined);
  }

  spawn(): Worker {
    const id = `w${this.#next++}`;
    const script = startScript(this.worker, this.args(id));
    const life: WorkerLife = {
      w: id,
      pid: script.child.pid ?? -1,
      startedAt: Date.now(),
    };
    const worker: Worker = {
      life,
      script,
      frozen: false,
      killed: false,
      closed: Promise.resolve(),
    };
    let rest = "";
    script.child.stdout!.on("data", (chunk) => {
      const parts = (rest + String(chunk)).split("\n");
      rest = parts.pop()!;
      for (const text of parts) this.#line(worker, text);
    });
    worker.closed = new Promise((resolve) =>
      script.child.once("close", (code, signal) => {
        life.exitedAt ??= Date.now();
        life.exit = String(signal ?? code);
        resolve();
      })
    );
    script.lines.catch((error) => {
      if (worker.killed) return;
      // deno-lint-ignore no-control-regex
      const text = String(error.message).replace(/\x1b\[[0-9;]*m/g, "");
      life.crash = `exited by itself: ${
        text.split("\n").filter((l) => l.trim() !== "").slice(0, 4).join(" / ")
      }`;
      if (
        Date.now() < this.respawnUntil && this.#next < this.maxSpawns
      ) this.spawn();
    });
    this.all.push(worker);
    return worker;
  }

  #line(worker: Worker, text: string): void {
    if (!text.startsWith("{")) return;
    let line: LogLine;
    try {
      line = JSON.parse(text);
    } catch {
      return; // cut by SIGKILL
    }
    this.lines.push(line);
    if (line.ev === "acq") {
      const lock = line.lock as Lock;
      worker.holding = {
        lock,
        until: Number(line.acquiredAt) + Number(line.holdMs),
      };
      this.lastAcquired[lock] = Math.max(
        this.lastAcquired[lock],
        Number(line.acquiredAt),
      );
    } else if (line.ev === "end") worker.holding = undefined;
  }

  /**
   * A live, running worker holding a lease for at least 30 ms more, of
   * `prefer` during the first half of the time given.
   */
  async holder(prefer: Lock, limitMs = 3_000): Promise<Worker | undefined> {
    const started = Date.now();
    while (Date.now() - started < limitMs) {
      const now = Date.now();
      const any = now - started > limitMs / 2;
      const candidates = this.live.filter((w) =>
        !w.frozen && w.holding !== undefined &&
        w.holding.until - now > 30 && (any || w.holding.lock === prefer)
      );
      if (candidates.length > 0) {
        return candidates[Math.floor(Math.random() * candidates.length)];
      }
      await sleep(10);
    }
    return undefined;
  }

  async kill(worker: Worker): Promise<void> {
    worker.killed = true;
    worker.life.killedAt = Date.now();
    await worker.script.stop();
  }

  /** SIGCONTs and SIGKILLs every worker still there. */
  async stopAll(): Promise<void> {
    await Promise.all(this.all.map(async (w) => {
      if (w.life.exitedAt !== undefined) return;
      if (w.frozen) signal(w, "SIGCONT");
      if (!w.killed) {
        w.life.crash = "was still running at the end and was SIGKILLed";
      }
      w.killed = true;
      await w.script.stop();
      await w.closed;
    }));
  }
}

export function signal(worker: Worker, name: "SIGSTOP" | "SIGCONT"): void {
  worker.frozen = name === "SIGSTOP";
  try {
    process.kill(worker.life.pid, name);
  } catch {
    // gone
  }
}
