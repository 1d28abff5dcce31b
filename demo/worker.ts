/**
 * A worker process of `deno task demo` (see `main.ts`): loops acquire, work,
 * release on a shared semaphore and reports each step to its parent as a
 * JSON line. Stops, releasing, on SIGTERM/SIGINT, when stdin closes (the
 * parent is gone) or after a minute.
 *
 * Usage: `deno run -A demo/worker.ts <redis-url> <semaphore-name>`
 *
 * @module
 */
import { connect, Script, Semaphore } from "../mod.ts";
import { LEASE_MS, oracleKeys, sleep, type WorkerEvent } from "./shared.ts";

/**
 * Enters the critical section, atomically: adds this pid to the holders and
 * counts them; checks the token is new and above ARGV[3], the largest token
 * granted when this acquire began.
 */
const ENTER = new Script(
  `redis.call("SADD", KEYS[1], ARGV[1])
   local token = tonumber(ARGV[2])
   local fenced = redis.call("SADD", KEYS[3], ARGV[2]) == 1 and token > tonumber(ARGV[3])
   if token > tonumber(redis.call("GET", KEYS[2]) or "0") then redis.call("SET", KEYS[2], ARGV[2]) end
   return {redis.call("SCARD", KEYS[1]), fenced and 1 or 0, tonumber(redis.call("GET", KEYS[4]) or "0")}`,
  { keys: 4, name: "demo-enter" },
);

const [url, name] = Deno.args;
const keys = oracleKeys(name);
const stop = new AbortController();
Deno.addSignalListener("SIGTERM", () => stop.abort());
Deno.addSignalListener("SIGINT", () => stop.abort());
setTimeout(() => stop.abort(), 60_000);
Deno.stdin.readable.pipeTo(new WritableStream()).finally(() => stop.abort());

const report = (event: WorkerEvent) => console.log(JSON.stringify(event));

async function main(): Promise<void> {
  // A short command timeout: if the parent and its Redis die, exit soon.
  await using redis = await connect({ url, commandTimeoutMs: 2_000 });
  await using semaphore = await Semaphore.attach(redis, name, {
    leaseMs: LEASE_MS, // a per-process option, not stored with the semaphore
    signal: stop.signal,
  });
  while (!stop.signal.aborted) {
    const before = Number(await redis.send("GET", keys.maxToken) ?? 0);
    report({ t: "waiting" });
    await using lease = await semaphore.acquire(stop.signal);
    const { token } = lease;
    const [holders, fenced, epoch] = await ENTER.run(
      redis,
      [keys.holders, keys.maxToken, keys.tokens, keys.epoch],
      [Deno.pid, token, before],
    ) as number[];
    report({ t: "acquired", token, holders, fenced: fenced === 1, epoch });
    // The work: cut short if the lease is lost or we are told to stop.
    const work = AbortSignal.any([lease.signal, stop.signal]);
    await sleep(20 + 100 * Math.random(), work);
    if (lease.signal.aborted) report({ t: "lost", token });
    await redis.send("SREM", keys.holders, Deno.pid);
    report({ t: "released", token });
  } // `await using`: each turn's lease is released here
}

try {
  await main();
} catch (error) {
  if (!stop.signal.aborted) {
    console.error(`worker ${Deno.pid}:`, error);
    Deno.exit(1);
  }
}
Deno.exit(0);
