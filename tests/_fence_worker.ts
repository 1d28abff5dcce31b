/**
 * A lock holder in a process of its own for `tests/fencing_test.ts` (run by
 * Deno or Bun):
 *
 *   <url> <name> <resource> <leaseMs> <goKey>
 *
 * Acquires the Mutex `name` (renewed in the background), prints
 * `{"acquired": token}`, then waits (at most 30 s) until the key `goKey`
 * exists: the test pauses it meanwhile (SIGSTOP) past its lease. Then it
 * writes "late" to the FencedResource `resource` with its token without
 * checking its lease, as a holder that does not know it was paused would,
 * waits (at most 5 s) for its lease's signal to report the loss, and prints
 * `{"written": 0|1, "lost": 0|1}` before it exits.
 *
 * @module
 */
import process from "node:process";
import { connect, Mutex } from "../mod.ts";
import { FencedResource } from "../src/fencing.ts";
import { delay } from "./_until.ts";

const [url, name, resource, leaseMs, goKey] = process.argv.slice(2);

await using redis = await connect(url);
const mutex = new Mutex(redis, name, { leaseMs: Number(leaseMs) });
const lease = await mutex.acquire(AbortSignal.timeout(10_000));
console.log(JSON.stringify({ acquired: lease.token }));

const start = performance.now();
while (await redis.send("EXISTS", goKey) === 0) {
  if (performance.now() - start > 30_000) throw new Error("no go in 30 s");
  await delay(10);
}
const written = await new FencedResource(redis, resource).write(
  lease.token,
  "late",
);
for (let i = 0; i < 500 && !lease.signal.aborted; i++) await delay(10);
console.log(JSON.stringify({
  written: written ? 1 : 0,
  lost: lease.signal.aborted ? 1 : 0,
}));
await lease.release().catch(() => undefined); // LockLostError: it was lost
await mutex[Symbol.asyncDispose]();
