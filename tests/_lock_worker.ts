/**
 * A worker process for the multi-process tests (run by Deno or Bun).
 *
 *   loop <url> <name> <permits> <iterations> <strategy>
 *     acquires and releases `iterations` times; inside each hold it bumps a
 *     Redis oracle counter (INCR/DECR) and checks tokens only go up; prints
 *     one JSON line at the end: {"acquired": n, "maxSeen": m, "violations": v}
 *   hold <url> <name> <permits> <leaseMs>
 *     acquires once, prints {"acquired": token} and holds until killed.
 *
 * @module
 */
import process from "node:process";
import { connect, Mutex, Semaphore } from "../mod.ts";

const [mode, url, name, permitsArg, fourth, strategy = "blocking"] = process
  .argv.slice(2);
const permits = Number(permitsArg);

/** Raises the oracle, and checks the token is above every earlier one (mutex). */
const CHECK = `
local holders = redis.call('INCR', KEYS[1])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local token = tonumber(ARGV[1])
local ordered = 1
if token <= last then ordered = 0 else redis.call('SET', KEYS[2], ARGV[1]) end
return {holders, ordered}
`;

await using redis = await connect(url);
const wait = strategy === "polling"
  ? { strategy: "polling" as const, intervalMs: 1, maxIntervalMs: 20 }
  : { strategy: "blocking" as const };

if (mode === "hold") {
  const leaseMs = Number(fourth);
  const lock = permits === 1
    ? new Mutex(redis, name, { leaseMs })
    : await Semaphore.create(redis, name, { permits, leaseMs });
  const lease = await lock.acquire();
  console.log(JSON.stringify({ acquired: lease.token }));
  await new Promise(() => {}); // held until SIGKILL
} else {
  const iterations = Number(fourth);
  const lock = permits === 1
    ? new Mutex(redis, name, { leaseMs: 5_000, wait })
    : await Semaphore.create(redis, name, { permits, leaseMs: 5_000, wait });
  const oracle = [`oracle:{${name}}:holders`, `oracle:{${name}}:token`];
  let maxSeen = 0;
  let violations = 0;
  for (let i = 0; i < iterations; i++) {
    const lease = await lock.acquire(AbortSignal.timeout(30_000));
    const [holders, ordered] = await redis.send(
      "EVAL",
      CHECK,
      2,
      ...oracle,
      lease.token,
    ) as number[];
    maxSeen = Math.max(maxSeen, holders);
    if (holders > permits || (permits === 1 && ordered !== 1)) violations++;
    if (Math.random() < 0.5) {
      await new Promise((r) => setTimeout(r, Math.random() * 3));
    }
    await redis.send("DECR", oracle[0]);
    await lease.release();
  }
  console.log(JSON.stringify({ acquired: iterations, maxSeen, violations }));
}
