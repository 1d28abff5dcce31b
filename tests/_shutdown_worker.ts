/**
 * A worker for the graceful-shutdown test (run by Deno or Bun): holds two
 * permits of a semaphore and waits with two acquires on a mutex, prints
 * {"ready": 1}, and on SIGTERM closes its client (which releases and
 * withdraws first) and exits 0.
 *
 *   <url> <semaphore name> <mutex name>
 *
 * @module
 */
import process from "node:process";
import { connect, Mutex, Semaphore } from "../mod.ts";

const [url, semaphoreName, mutexName] = process.argv.slice(2);
const redis = await connect(url);
const semaphore = await Semaphore.create(redis, semaphoreName, {
  permits: 3,
  leaseMs: 60_000,
});
const held = [await semaphore.acquire(), await semaphore.acquire()];
const mutex = new Mutex(redis, mutexName, {
  leaseMs: 60_000,
  waiterTtlMs: 30_000,
});
const waits = [mutex.acquire(), mutex.acquire()];
for (const wait of waits) wait.catch(() => {}); // rejected by the close
const onTerm = async () => {
  await redis.close({ timeoutMs: 5_000 });
  console.log(
    JSON.stringify({
      closed: 1,
      lost: held.filter((lease) => lease.signal.aborted).length,
    }),
  );
  process.exit(0);
};
// Deno: its own signal API (node:process handlers do not stop the default).
const deno = (globalThis as { Deno?: typeof Deno }).Deno;
if (deno) deno.addSignalListener("SIGTERM", onTerm);
else process.on("SIGTERM", onTerm);
// Ready once both waiters are queued in Redis.
for (let i = 0; i < 200; i++) {
  const waiters = await redis.send("ZCARD", `redsync:{${mutexName}}:queue`);
  if (waiters === 2) break;
  await new Promise((r) => setTimeout(r, 10));
}
console.log(JSON.stringify({ ready: 1 }));
setInterval(() => {}, 1_000); // alive until the signal
