/**
 * A worker process for the read-write lock tests (run by Deno or Bun).
 *
 *   loop <url> <name> <iterations> <strategy> <writeShare>
 *     reads or writes (a write with probability `writeShare`) `iterations`
 *     times; entering and leaving each hold it runs one script on a
 *     Redis-side oracle (readers and writers inside, the largest token seen)
 *     that counts, atomically, a writer that meets anyone inside, a reader
 *     that meets a writer, and a write whose token is not above every token
 *     seen before it; prints one JSON line at the end:
 *     {"reads": r, "writes": w, "violations": v, "tokenViolations": t, "maxReaders": m}
 *   hold <url> <name> <read|write> <leaseMs>
 *     takes one lease, prints {"acquired": token} and holds it until killed.
 *
 * @module
 */
import process from "node:process";
import { connect } from "../mod.ts";
// Not exported from mod.ts yet.
import { ReadWriteLock } from "../src/locks/rw_lock.ts";

const [mode, url, name, third, fourth, fifth] = process.argv.slice(2);

/**
 * KEYS: readers, writers, largest token, violations, token violations.
 * ARGV: "read"/"write", token. Enters; returns the readers now inside.
 */
const ENTER = `
local kind, token = ARGV[1], tonumber(ARGV[2])
local readers, writers
if kind == 'read' then
  readers = redis.call('INCR', KEYS[1])
  writers = tonumber(redis.call('GET', KEYS[2]) or '0')
  if writers ~= 0 then redis.call('INCR', KEYS[4]) end
else
  writers = redis.call('INCR', KEYS[2])
  readers = tonumber(redis.call('GET', KEYS[1]) or '0')
  if writers ~= 1 or readers ~= 0 then redis.call('INCR', KEYS[4]) end
end
local largest = tonumber(redis.call('GET', KEYS[3]) or '0')
if kind == 'write' and token <= largest then redis.call('INCR', KEYS[5]) end
if token > largest then redis.call('SET', KEYS[3], ARGV[2]) end
return readers
`;

await using redis = await connect(url);

if (mode === "hold") {
  const lock = new ReadWriteLock(redis, name, { leaseMs: Number(fourth) });
  const lease = third === "write" ? await lock.write() : await lock.read();
  console.log(JSON.stringify({ acquired: lease.token }));
  await new Promise(() => {}); // held until SIGKILL
} else {
  const iterations = Number(third);
  const wait = fourth === "polling"
    ? { strategy: "polling" as const, intervalMs: 1, maxIntervalMs: 20 }
    : { strategy: "blocking" as const };
  const writeShare = Number(fifth);
  const lock = new ReadWriteLock(redis, name, { leaseMs: 5_000, wait });
  const oracle = ["readers", "writers", "largest", "violations", "tokens"].map(
    (k) => `oracle:{${name}}:${k}`,
  );
  let reads = 0;
  let writes = 0;
  let maxReaders = 0;
  for (let i = 0; i < iterations; i++) {
    const kind = Math.random() < writeShare ? "write" : "read";
    const signal = AbortSignal.timeout(30_000);
    const lease = kind === "write"
      ? await lock.write(signal)
      : await lock.read(signal);
    const readers = await redis.send(
      "EVAL",
      ENTER,
      5,
      ...oracle,
      kind,
      lease.token,
    ) as number;
    maxReaders = Math.max(maxReaders, readers);
    await new Promise((r) => setTimeout(r, Math.random() * 4));
    await redis.send("DECR", oracle[kind === "write" ? 1 : 0]);
    await lease.release();
    if (kind === "write") writes++;
    else reads++;
  }
  const [violations, tokenViolations] = await Promise.all(
    [oracle[3], oracle[4]].map(async (key) =>
      Number(await redis.send("GET", key) ?? 0)
    ),
  );
  console.log(
    JSON.stringify({ reads, writes, violations, tokenViolations, maxReaders }),
  );
}
