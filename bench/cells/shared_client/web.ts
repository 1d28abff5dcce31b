/**
 * The "web server" of the shared-client cells: one client, C request loops
 * doing acquire -> 1 ms of work -> release over K mutex names for a fixed
 * time; one oracle per name.
 *
 * @module
 */
import { Mutex } from "../../../mod.ts";
import { type Held, OURS_COMMANDS } from "../../shared/contenders.ts";
import { Oracle } from "../../shared/oracle.ts";
import {
  commandDelta,
  commandStats,
  countConnections,
  openClients,
} from "../../shared/redis.ts";
import { jain, percentiles, summarize } from "../../shared/stats.ts";
import { sleep, within } from "../../shared/timing.ts";
import type { Rig, WebResult } from "./types.ts";

/** One client, C request loops over K mutex names, for a fixed window. */
export async function webCell(rig: Rig): Promise<WebResult> {
  const { loops, names, workMs, warmupMs, windowMs } = rig.options.web;
  const tag = `${rig.runId}-web`;
  const [client] = await openClients(rig.url, tag, 1);
  const mutexes = Array.from({ length: names }, (_, k) => {
    const name = `${rig.runId}:web:${k}`;
    rig.names.add(name);
    return new Mutex(client, name);
  });
  const oracles = mutexes.map((m) => new Oracle(1, `web ${m.name}`));
  const abort = new AbortController();
  const entered = new Float64Array(loops).fill(NaN);
  const perLoop = new Array<number>(loops).fill(0);
  const waits: number[] = [];
  const critical: number[] = [];
  let measuring = false;
  let stop = false;

  const loop = async (index: number) => {
    for (let request = 0; request < 10_000_000 && !stop; request++) {
      const k = Math.floor(Math.random() * names);
      const enter = performance.now();
      entered[index] = enter;
      let held: Held;
      try {
        held = await mutexes[k].acquire(abort.signal);
      } catch (error) {
        entered[index] = NaN;
        if (abort.signal.aborted) return;
        throw error;
      }
      const got = performance.now();
      entered[index] = NaN;
      oracles[k].enter();
      const counted = measuring;
      if (counted) {
        perLoop[index]++;
        waits.push(got - enter);
      }
      await sleep(workMs);
      if (counted) critical.push(performance.now() - got);
      oracles[k].leave();
      await held.release();
    }
  };

  try {
    const tasks = Array.from({ length: loops }, (_, i) => loop(i));
    await sleep(warmupMs);
    const before = await commandStats(rig.observer);
    measuring = true;
    const start = performance.now();
    await sleep(windowMs / 2);
    const connections = await countConnections(rig.observer, tag);
    await sleep(Math.max(0, start + windowMs - performance.now()));
    measuring = false;
    const end = performance.now();
    const after = await commandStats(rig.observer);
    stop = true;
    let censored = 0;
    for (const at of entered) {
      if (!Number.isNaN(at)) censored = Math.max(censored, end - at);
    }
    abort.abort();
    const settled = await within(
      Promise.allSettled(tasks),
      60_000,
      "web-server cell",
    );
    for (const oracle of oracles) oracle.check();
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    const acquisitions = waits.length;
    const wait = percentiles(waits);
    const delta = commandDelta(before, after, OURS_COMMANDS);
    return {
      loops,
      names,
      workMs,
      windowMs: end - start,
      perSec: acquisitions / ((end - start) / 1_000),
      acquisitions,
      wait,
      maxWait: Math.max(wait.count > 0 ? wait.max : 0, censored),
      jain: jain(perLoop),
      criticalP50: summarize(critical).p50,
      connections,
      commandsPerAcquire: delta.calls / acquisitions,
      redisUsPerAcquire: delta.usec / acquisitions,
    };
  } finally {
    stop = true;
    abort.abort();
    await Promise.allSettled(mutexes.map((m) => m[Symbol.asyncDispose]()));
    await client.close();
  }
}
