/**
 * One process of the two-process hand-off cell. Role `a` measures, role
 * `b` answers; each has one client of its own (as users run it: a waiter
 * per process, no multiplexing in between).
 *
 * - kind `lock`: a `Mutex` at its defaults. A holds it; B waits for it.
 *   Each round, A waits until B is in the queue, idles `settleMs`, then
 *   calls `release()` (t0) and, in the same tick, `acquire()`: its ACQUIRE
 *   follows its RELEASE on its connection, so it queues behind B. B takes
 *   the lease and releases it at once (and queues again), which hands it
 *   back to A: A's `acquire()` resolves (t1). A round is two hand-offs,
 *   the first after the idle, the second at once.
 * - kind `floor`: the same shape with an `RPUSH` waking a `BLPOP` blocked on
 *   the other process's client, and back.
 *
 * A prints `ready` once it holds (or is set up), then one JSON line with
 * the round times in microseconds; B runs until its stdin is closed.
 *
 * ```sh
 * deno run -A bench/cells/processes/worker.ts <url> <a|b> <lock|floor> <key> <rounds> <settleMs>
 * ```
 *
 * @module
 */
import process from "node:process";
import { connect, Mutex } from "../../../mod.ts";
import { queueKey } from "../../shared/redis.ts";

const [url, role, kind, key, roundsText, settleText] = process.argv.slice(2);
const rounds = Number(roundsText);
const settleMs = Number(settleText);
const redis = await connect(url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function lockA(): Promise<number[]> {
  const mutex = new Mutex(redis, key);
  let lease = await mutex.acquire();
  process.stdout.write("ready\n");
  const times: number[] = [];
  const queue = queueKey(key);
  for (let i = 0; i < rounds; i++) {
    // B queued (bounded: 10 s of 0.2 ms polls).
    for (let n = 0; n < 50_000; n++) {
      if (await redis.send("ZCARD", queue) === 1) break;
      await sleep(0.2);
    }
    if (settleMs > 0) await sleep(settleMs);
    const t0 = performance.now();
    const released = lease.release();
    const next = mutex.acquire();
    await released;
    lease = await next;
    times.push((performance.now() - t0) * 1_000);
  }
  await lease.release();
  return times;
}

async function lockB(): Promise<void> {
  const mutex = new Mutex(redis, key);
  for (;;) {
    const lease = await mutex.acquire();
    await lease.release();
  }
}

async function floorA(): Promise<number[]> {
  const [ping, pong] = [`${key}:ping`, `${key}:pong`];
  process.stdout.write("ready\n");
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    // B blocks again within microseconds of its answer (and a push that
    // comes first waits in the list): the idle is the same settle.
    if (settleMs > 0) await sleep(settleMs);
    const t0 = performance.now();
    const pushed = redis.send("RPUSH", ping, "1");
    await redis.send("BLPOP", pong, 10);
    await pushed;
    times.push((performance.now() - t0) * 1_000);
  }
  return times;
}

async function floorB(): Promise<void> {
  const [ping, pong] = [`${key}:ping`, `${key}:pong`];
  for (;;) {
    await redis.send("BLPOP", ping, 10);
    await redis.send("RPUSH", pong, "1");
  }
}

if (role === "a") {
  const times = kind === "lock" ? await lockA() : await floorA();
  process.stdout.write(JSON.stringify({ times }) + "\n");
  await redis.close();
  process.exit(0);
} else {
  // Ends when the cell closes its stdin (`LineChild.stop()`).
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
  await (kind === "lock" ? lockB() : floorB());
}
