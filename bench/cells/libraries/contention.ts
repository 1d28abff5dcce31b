/**
 * Free-running contention of the libraries cell: W workers loop
 * `acquire()` -> critical section -> `release()` for a fixed window:
 * throughput, waits, fairness (Jain's index), starved workers, and the
 * Redis commands per acquisition from `INFO commandstats`.
 *
 * @module
 */
import {
  type Contender,
  type Held,
  SEMAPHORE_PERMITS,
} from "../../shared/contenders.ts";
import { cellText, int, msText, num } from "../../shared/format.ts";
import { Oracle } from "../../shared/oracle.ts";
import { commandDelta, commandStats } from "../../shared/redis.ts";
import { jain, medianOf, summarize } from "../../shared/stats.ts";
import { sleep, within } from "../../shared/timing.ts";
import type { ContentionResult, LockBenchResult, Rig } from "./types.ts";

/** Holders a contention cell's lock allows. */
export function limitOf(c: ContentionResult): number {
  return c.contender.kind === "mutex" ? 1 : SEMAPHORE_PERMITS;
}

async function contentionCell(
  rig: Rig,
  contender: Contender,
  workers: number,
  criticalMs: number,
): Promise<ContentionResult> {
  const { options, connections } = rig;
  const limit = contender.kind === "mutex" ? 1 : SEMAPHORE_PERMITS;
  const name = `${rig.runId}:c:${contender.id}:${workers}:${criticalMs}`;
  rig.names.add(name);
  const subject = await contender.open(connections, name, workers, 0);
  const oracle = new Oracle(limit, contender.label);
  const abort = new AbortController();
  const entered = new Float64Array(workers).fill(NaN);
  const counts = new Array<number>(workers).fill(0);
  const waits: number[] = [];
  const critical: number[] = [];
  let measuring = false;
  let stop = false;

  const loop = async (index: number) => {
    const worker = subject.workers[index];
    for (let iteration = 0; iteration < 10_000_000 && !stop; iteration++) {
      const enter = performance.now();
      entered[index] = enter;
      let held: Held;
      try {
        held = await worker.acquire(abort.signal);
      } catch (error) {
        entered[index] = NaN;
        if (abort.signal.aborted) return;
        throw error;
      }
      const got = performance.now();
      entered[index] = NaN;
      oracle.enter();
      if (measuring) {
        counts[index]++;
        waits.push(got - enter);
      }
      if (criticalMs > 0 && !stop) {
        await sleep(criticalMs);
        if (measuring) critical.push(performance.now() - got);
      }
      oracle.leave();
      await held.release();
    }
  };

  try {
    const tasks = subject.workers.map((_, i) => loop(i));
    await sleep(options.contentionWarmupMs);
    const before = await commandStats(connections.observer);
    measuring = true;
    const start = performance.now();
    await sleep(options.contentionWindowMs);
    measuring = false;
    const end = performance.now();
    const after = await commandStats(connections.observer);
    stop = true;
    let censored = 0;
    for (const at of entered) {
      if (!Number.isNaN(at)) censored = Math.max(censored, end - at);
    }
    abort.abort();
    const settled = await within(
      Promise.allSettled(tasks),
      60_000 + workers * 1_000,
      `contention ${contender.label} at W=${workers}`,
    );
    oracle.check();
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    const acquisitions = waits.length;
    const delta = commandDelta(before, after, contender.commands);
    const wait = summarize(waits);
    const perCommand: Record<string, number> = {};
    for (const command of contender.commands) {
      const calls = commandDelta(before, after, [command]).calls;
      if (calls > 0) perCommand[command] = calls / acquisitions;
    }
    return {
      contender,
      workers,
      criticalMs,
      perSec: acquisitions / ((end - start) / 1_000),
      acquisitions,
      wait,
      maxWait: Math.max(wait.count > 0 ? wait.max : 0, censored),
      jain: jain(counts),
      starved: counts.filter((c) => c === 0).length,
      commandsPerAcquire: delta.calls / acquisitions,
      redisUsPerAcquire: delta.usec / acquisitions,
      perCommand,
      criticalP50: summarize(critical).p50,
    };
  } finally {
    stop = true;
    abort.abort();
    await subject.close();
  }
}

/** Every contender with every critical section at every W. */
export async function measureContention(
  rig: Rig,
  contenders: Contender[],
): Promise<ContentionResult[]> {
  const { options, log } = rig;
  const results: ContentionResult[] = [];
  for (const contender of contenders) {
    for (const criticalMs of options.criticalMs) {
      for (const workers of options.workers) {
        const r = await contentionCell(rig, contender, workers, criticalMs);
        results.push(r);
        log(
          `contention ${contender.label} W=${workers} cs=${criticalMs} ms: ${
            Math.round(r.perSec)
          }/s, wait p50 ${msText(r.wait.p50)} ms, p99 ${
            msText(r.wait.p99)
          } ms, max ${msText(r.maxWait)} ms, Jain ${r.jain.toFixed(3)}, ${
            r.commandsPerAcquire.toFixed(1)
          } commands/acquisition`,
        );
      }
    }
  }
  return results;
}

/** The W of the command breakdown: 32 when measured, else the largest. */
function breakdownW(result: LockBenchResult): number {
  const ws = result.options.workers;
  return ws.includes(32) ? 32 : Math.max(...ws);
}

/** Calls per acquisition of each counted command, per lock. */
function breakdown(result: LockBenchResult): string {
  const w = breakdownW(result);
  return result.contention.filter((c) => c.workers === w && c.criticalMs === 0)
    .map((c) =>
      `${c.contender.label}: ${
        Object.entries(c.perCommand).map(([name, calls]) =>
          `${name} ${calls.toFixed(2)}`
        ).join(", ")
      }`
    ).join("; ");
}

function contentionTable(
  rows: readonly ContentionResult[],
): string[] {
  const lines = [
    "| lock | W | CS/s | wait p50 (ms) | wait p99 (ms) | longest wait (ms) | Jain | starved | commands/acq. | Redis us/acq. |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${cellText(r.contender.label)} | ${r.workers} | ${int(r.perSec)} | ${
        msText(r.wait.p50)
      } | ${msText(r.wait.p99)} | ${msText(r.maxWait)} | ${
        r.jain.toFixed(3)
      } | ${r.starved} | ${num(r.commandsPerAcquire, 2)} | ${
        num(r.redisUsPerAcquire, 0)
      } |`,
    );
  }
  return lines;
}

/** The "Free-running contention" subsection, and what its figures mean. */
export function contentionMarkdown(result: LockBenchResult): string {
  const o = result.options;
  const lines: string[] = [
    "### Free-running contention",
    "",
    `W workers loop \`acquire()\` -> critical section -> \`release()\` for ${
      o.contentionWarmupMs / 1_000
    } s unmeasured, then a ${
      o.contentionWindowMs / 1_000
    } s window: critical sections per second, the wait of each acquisition completed in the window, the longest wait (including workers still waiting at the window's end), Jain's index over the acquisitions per worker, the workers that got none, and the client-level Redis commands per acquisition (see below). Semaphores have ${SEMAPHORE_PERMITS} permits. The 1 ms critical section is a \`setTimeout(1)\` (measured p50 ${
      msText(
        medianOf(
          result.contention.filter((c) => c.criticalMs > 0).map((c) =>
            c.criticalP50
          ).filter(Number.isFinite),
        ),
      )
    } ms).`,
    "",
  ];
  for (const criticalMs of o.criticalMs) {
    lines.push(
      criticalMs === 0
        ? "Empty critical section:"
        : `Critical section of ${criticalMs} ms:`,
      "",
      ...contentionTable(
        result.contention.filter((c) => c.criticalMs === criticalMs),
      ),
      "",
    );
  }
  lines.push(
    "**Commands per acquisition.** `INFO commandstats` before and after the window, summing only the commands each library sends itself: ours `fcall` (the lock scripts as Redis Functions), `evalsha` and `eval` (a script's first runs on a client, before its library is loaded), `function|load` (that load, in the background), and its wake hub's `subscribe`, `ssubscribe`, `unsubscribe`, `sunsubscribe` and `ping` (its subscriber's liveness check after 2 s of silence; a client of ours keeps its hub for 10 s after its last waiter, so our clients of an earlier cell may add some; the per-command line below shows which occurred); redis-semaphore's Mutex `set` (acquire, NX PX), `evalsha`, `eval` (release); its Semaphore `evalsha`, `eval` (acquire) and `zrem` (release); both redlocks `evalsha` and `eval`. Redis also counts every command a Lua script or function calls (ours call `ZADD`, `HSET`, `DEL`, `PUBLISH` for a wake-up, ...), but those cost no round trip and are left out; no library above sends one of those names itself and also calls it from its scripts, so the sum is exact. `INFO` and the benchmark's `ZCARD` are not counted. Redis us/acq. is the `usec` of those commands (a script's includes what it calls).",
    "",
    `Per command, at W=${breakdownW(result)} with the empty critical section: ${
      breakdown(result)
    }.`,
    "",
    "**Correctness.** Every run counts the workers inside the critical section (incremented when `acquire()` resolves, decremented before `release()` is called); more than the limit (1, or 4 for semaphores) fails the benchmark with a non-zero exit. None happened in this run.",
  );
  return lines.join("\n");
}
