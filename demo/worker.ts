/**
 * A worker process of `deno task demo` (see `main.ts`): waits for the start
 * event, then loops acquire, work, release on a shared semaphore, passing
 * the baton on (an auto-reset event) every few releases; a taker also takes
 * batons meanwhile. Reports each step to its parent as a JSON line. Stops,
 * releasing, on SIGTERM/SIGINT, when stdin closes (the parent is gone) or
 * after a minute.
 *
 * Usage: `deno run -A demo/worker.ts <redis-url> <semaphore-name> [taker]`
 *
 * @module
 */
import {
  AutoResetEvent,
  connect,
  ManualResetEvent,
  type RedisClient,
  Script,
  Semaphore,
} from "../mod.ts";
import {
  BATON_EVERY,
  eventNames,
  LEASE_MS,
  oracleKeys,
  sleep,
  type WorkerEvent,
} from "./shared.ts";

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

const [url, name, role] = Deno.args;
const keys = oracleKeys(name);
const events = eventNames(name);
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
  const baton = new AutoResetEvent(redis, events.baton);
  report({ t: "ready" });
  // Blocks in Redis until the parent's one set() wakes every worker.
  await new ManualResetEvent(redis, events.start).wait(stop.signal);
  report({ t: "started" });
  // Both loops end before the client closes: an aborted wait may still have
  // to put back a signal it took.
  const ended = await Promise.allSettled([
    work(redis, semaphore, baton),
    role === "taker" ? take(baton) : undefined,
  ]);
  for (const end of ended) if (end.status === "rejected") throw end.reason;
}

/** The semaphore loop; passes the baton on every BATON_EVERY releases. */
async function work(
  redis: RedisClient,
  semaphore: Semaphore,
  baton: AutoResetEvent,
): Promise<void> {
  let waitMs = 0;
  semaphore.addEventListener("acquired", (event) => {
    waitMs = event.waitMs ?? 0;
  });
  for (let turn = 1; !stop.signal.aborted; turn++) {
    {
      const before = Number(await redis.send("GET", keys.maxToken) ?? 0);
      report({ t: "waiting" });
      await using lease = await semaphore.acquire(stop.signal);
      const { token } = lease;
      const [holders, fenced, epoch] = await ENTER.run(
        redis,
        [keys.holders, keys.maxToken, keys.tokens, keys.epoch],
        [Deno.pid, token, before],
      ) as number[];
      report({
        t: "acquired",
        token,
        holders,
        fenced: fenced === 1,
        epoch,
        waitMs,
      });
      // The work: cut short if the lease is lost or we are told to stop.
      const work = AbortSignal.any([lease.signal, stop.signal]);
      await sleep(20 + 100 * Math.random(), work);
      if (lease.signal.aborted) report({ t: "lost", token });
      await redis.send("SREM", keys.holders, Deno.pid);
      report({ t: "released", token });
    } // `await using`: the turn's lease is released here
    if (turn % BATON_EVERY === 0 && !stop.signal.aborted) {
      // Reported at once, so that the parent counts every set() that landed.
      report({ t: "baton-set", ok: await baton.set() });
    }
  }
}

/** A taker's loop: takes one baton at a time, each set() wakes one taker. */
async function take(baton: AutoResetEvent): Promise<void> {
  while (!stop.signal.aborted) {
    try {
      await baton.wait(stop.signal);
    } catch (error) {
      if (stop.signal.aborted) return; // aborted waits take nothing
      throw error;
    }
    report({ t: "baton-taken" });
    await sleep(100 + 100 * Math.random(), stop.signal); // slower than the sets
  }
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
