/**
 * A worker for the multi-lock test (run by Deno or Bun):
 *
 *   <url> <iterations> <name> <name> ...
 *
 * takes every named mutex with `acquireAll` (in the order given), and
 * inside each hold bumps a Redis oracle counter per name (INCR, check it is
 * 1, DECR); prints {"done": n, "violations": v} at the end.
 *
 * @module
 */
import process from "node:process";
import { acquireAll, connect, Mutex } from "../mod.ts";

const [url, iterationsArg, ...names] = process.argv.slice(2);
await using redis = await connect(url);
const locks = names.map((name) => new Mutex(redis, name, { leaseMs: 5_000 }));
let violations = 0;
let done = 0;
for (let i = 0; i < Number(iterationsArg); i++) {
  await using _all = await acquireAll(locks, AbortSignal.timeout(30_000));
  for (const name of names) {
    const inside = await redis.send("INCR", `oracle:{${name}}`);
    if (inside !== 1) violations++;
  }
  await new Promise((r) => setTimeout(r, 1));
  for (const name of names) await redis.send("DECR", `oracle:{${name}}`);
  done++;
}
console.log(JSON.stringify({ done, violations }));
