/**
 * The fast paths of `ACQUIRE` and `RELEASE` (uncontended, and a hand-off to
 * a single waiter) must have the same effects as the general paths they
 * skip: each scenario runs once with the scripts as shipped and once with
 * the general paths alone (`generalPaths()`), on two names, and compares the
 * replies and every key (contents and TTLs; times, tokens and durations,
 * which come from the server clock, within a second of each other). And
 * the queue join's shortcut: a waiter that joins an empty queue sets the
 * TTLs of its keys and takes rank 0 without reading them.
 */
import assert from "node:assert/strict";
import { connect, type RedisClient } from "../mod.ts";
import { ACQUIRE, generalPaths, RELEASE } from "../src/locks/scripts.ts";
import { SCRIPT_KEYS } from "../src/locks/keys.ts";
import type { Script } from "../src/client/script.ts";
import { sharedRedisUrl } from "../harness/server.ts";
import { test } from "./_test.ts";

const url = sharedRedisUrl();
const SUFFIXES = SCRIPT_KEYS;
const HUB = "fp1";

interface Side {
  acquire: Script<string[], unknown>;
  release: Script<string[], unknown>;
  base: string;
}

interface Step {
  /** `acquire`: id, mode ("try" | "wait"), weight, limit, leaseMs, waiterTtlMs, note. */
  op: "acquire" | "release" | "kill-waiter" | "end-lease";
  id: string;
  mode?: "try" | "wait";
  weight?: number;
  limit?: number;
  leaseMs?: number;
  waiterTtlMs?: number;
  note?: string;
}

/** Runs `steps` on one side; the replies of the scripts, in order. */
async function play(
  redis: RedisClient,
  side: Side,
  steps: Step[],
): Promise<unknown[]> {
  const keys = SUFFIXES.map((s) => `${side.base}:${s}`);
  const wakePrefix = `${side.base}:wake:`;
  const replies: unknown[] = [];
  for (const step of steps) {
    const id = `${HUB}.${step.id}`;
    const limit = step.limit ?? 1;
    if (step.op === "acquire") {
      replies.push(
        await side.acquire.run(redis, keys, [
          id,
          String(limit),
          String(step.weight ?? 1),
          String(step.leaseMs ?? 30_000),
          step.mode ?? "wait",
          String(step.waiterTtlMs ?? 10_000),
          limit > 1 ? "600000" : "0",
          wakePrefix,
          limit > 1 ? "semaphore" : "0",
          "1",
          step.note ?? "",
        ]),
      );
    } else if (step.op === "release") {
      replies.push(
        await side.release.run(redis, keys, [id, String(limit), wakePrefix]),
      );
    } else {
      // A waiter whose heartbeat stopped, or a holder whose lease ran out:
      // its deadline moves 1 s into the past (server clock).
      const key = step.op === "kill-waiter" ? keys[3] : keys[0];
      await redis.send(
        "EVAL",
        `local t = redis.call('TIME')
         local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
         return redis.call('ZADD', KEYS[1], 'XX', 'CH', now - 1000, ARGV[1])`,
        1,
        key,
        id,
      );
    }
  }
  return replies;
}

/** Every key of a side, read back as plain values (TTLs rounded). */
async function dump(redis: RedisClient, base: string): Promise<unknown> {
  const out: Record<string, unknown> = {};
  for (const suffix of [...SUFFIXES, `wake:${HUB}`]) {
    const key = `${base}:${suffix}`;
    const type = String(await redis.send("TYPE", key));
    if (type === "none") continue;
    const ttl = Number(await redis.send("PTTL", key));
    let value: unknown;
    if (type === "zset") {
      value = await redis.send("ZRANGE", key, 0, -1, "WITHSCORES");
    } else if (type === "hash") {
      const flat = await redis.send("HGETALL", key);
      const pairs: string[][] = [];
      if (Array.isArray(flat)) {
        for (let i = 0; i < flat.length; i += 2) {
          pairs.push([String(flat[i]), String(flat[i + 1])]);
        }
      } else if (flat instanceof Map) {
        for (const [k, v] of flat) pairs.push([String(k), String(v)]);
      }
      value = pairs.sort((a, b) => a[0] < b[0] ? -1 : 1);
    } else if (type === "list") {
      value = await redis.send("LRANGE", key, 0, -1);
    } else {
      value = await redis.send("GET", key);
    }
    out[suffix] = { type, ttl: ttl < 0 ? ttl : "ttl:" + ttl, value };
  }
  return out;
}

/**
 * Equal, except that numbers that are server times or tokens (ms or us
 * since the epoch), and TTLs, may differ by up to a second.
 */
function same(fast: unknown, general: unknown, path: string): void {
  if (Array.isArray(fast) && Array.isArray(general)) {
    assert.equal(fast.length, general.length, `${path}: length`);
    fast.forEach((v, i) => same(v, general[i], `${path}[${i}]`));
    return;
  }
  if (fast && general && typeof fast === "object") {
    const a = fast as Record<string, unknown>;
    const b = general as Record<string, unknown>;
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), path);
    for (const k of Object.keys(a)) same(a[k], b[k], `${path}.${k}`);
    return;
  }
  const a = String(fast).split(/([|:])/);
  const b = String(general).split(/([|:])/);
  assert.equal(a.length, b.length, `${path}: ${fast} vs ${general}`);
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    // Times, tokens, TTLs and lease lengths (>= 1000) within a second;
    // counts, weights, ranks and results exactly.
    const timeLike = a[i] !== "" && Number.isFinite(x) && Number.isFinite(y) &&
      x >= 1_000 && y >= 1_000;
    if (timeLike) {
      const scale = x > 1e14 ? 1000 : 1; // us tokens and queue arrivals
      assert.ok(
        Math.abs(x - y) / scale < 1_000,
        `${path}: ${fast} vs ${general}`,
      );
    } else {
      assert.equal(a[i], b[i], `${path}: ${fast} vs ${general}`);
    }
  }
}

const SCENARIOS: Record<string, Step[]> = {
  "uncontended acquire and release": [
    { op: "acquire", id: "a", mode: "try" },
    { op: "release", id: "a" },
  ],
  "mutex hand-off to the waiter at the head (with meta)": [
    { op: "acquire", id: "a", note: "holder a" },
    { op: "acquire", id: "b", note: "waiter b" },
    { op: "release", id: "a" },
    { op: "release", id: "b" },
  ],
  "mutex hand-off, two waiters: the first gets it, the second stays": [
    { op: "acquire", id: "a" },
    { op: "acquire", id: "b" },
    { op: "acquire", id: "c" },
    { op: "release", id: "a" },
  ],
  "mutex hand-off when the head's heartbeat stopped": [
    { op: "acquire", id: "a" },
    { op: "acquire", id: "b" },
    { op: "acquire", id: "c" },
    { op: "kill-waiter", id: "b" },
    { op: "release", id: "a" },
  ],
  "hand-off from a holder whose lease ended": [
    { op: "acquire", id: "a" },
    { op: "acquire", id: "b" },
    { op: "end-lease", id: "a" },
    { op: "release", id: "a" },
  ],
  "a grant lasts no longer than the waiter's heartbeat": [
    { op: "acquire", id: "a", leaseMs: 60_000 },
    { op: "acquire", id: "b", leaseMs: 60_000, waiterTtlMs: 5_000 },
    { op: "release", id: "a" },
  ],
  "release by someone who does not hold, with a queue": [
    { op: "acquire", id: "a" },
    { op: "acquire", id: "b" },
    { op: "release", id: "x" },
  ],
  "the waiter at the head leaves (an aborted acquire)": [
    { op: "acquire", id: "a" },
    { op: "acquire", id: "b" },
    { op: "acquire", id: "c" },
    { op: "release", id: "b" },
    { op: "release", id: "a" },
  ],
  "semaphore(3): the only holder leaves, one waiter for every permit": [
    { op: "acquire", id: "a", limit: 3 },
    { op: "acquire", id: "b", limit: 3, weight: 3 },
    { op: "release", id: "a", limit: 3 },
  ],
  "semaphore(3): the only holder leaves, one waiter for 2 permits": [
    { op: "acquire", id: "a", limit: 3, weight: 3 },
    { op: "acquire", id: "b", limit: 3, weight: 2 },
    { op: "release", id: "a", limit: 3 },
  ],
  "semaphore(3): the only holder leaves, two waiters both served": [
    { op: "acquire", id: "a", limit: 3, weight: 3 },
    { op: "acquire", id: "b", limit: 3 },
    { op: "acquire", id: "c", limit: 3, weight: 2 },
    { op: "release", id: "a", limit: 3 },
  ],
  "semaphore(3): two holders, one leaves, a waiter served": [
    { op: "acquire", id: "a", limit: 3, weight: 2 },
    { op: "acquire", id: "b", limit: 3 },
    { op: "acquire", id: "c", limit: 3, weight: 2 },
    { op: "release", id: "a", limit: 3 },
  ],
};

for (const [title, steps] of Object.entries(SCENARIOS)) {
  test(`fast paths: ${title}: same replies and keys as the general paths`, async () => {
    await using redis = await connect(url);
    const run = crypto.randomUUID();
    const fast: Side = {
      acquire: ACQUIRE as unknown as Script<string[], unknown>,
      release: RELEASE as unknown as Script<string[], unknown>,
      base: `redsync:{fp-fast-${run}}`,
    };
    const general: Side = {
      ...generalPaths(),
      base: `redsync:{fp-gen-${run}}`,
    };
    try {
      const fastReplies = await play(redis, fast, steps);
      const fastKeys = await dump(redis, fast.base);
      const generalReplies = await play(redis, general, steps);
      const generalKeys = await dump(redis, general.base);
      same(fastReplies, generalReplies, "replies");
      same(fastKeys, generalKeys, "keys");
    } finally {
      for (const side of [fast, general]) {
        await redis.send(
          "DEL",
          ...SUFFIXES.map((s) => `${side.base}:${s}`),
          `${side.base}:wake:${HUB}`,
        );
      }
    }
  });
}

test("queue join: TTLs set when the queue was empty, lengthened and never shortened otherwise; ranks", async () => {
  await using redis = await connect(url);
  const side: Side = {
    acquire: ACQUIRE as unknown as Script<string[], unknown>,
    release: RELEASE as unknown as Script<string[], unknown>,
    base: `redsync:{fp-join-${crypto.randomUUID()}}`,
  };
  const waitKeys = ["queue", "waiters", "wants"];
  /** The TTLs of queue, waiters and wants, in s rounded up (-2: none). */
  const ttls = () =>
    Promise.all(waitKeys.map(async (s) => {
      const ms = Number(await redis.send("PTTL", `${side.base}:${s}`));
      return ms < 0 ? ms : Math.ceil(ms / 1_000);
    }));
  /** The rank in the reply of a join. */
  const rank = (reply: unknown) => (reply as number[])[2];
  try {
    await play(redis, side, [{ op: "acquire", id: "a" }]);
    // The first joins an empty queue: its TTL, rank 0.
    const [b] = await play(redis, side, [
      { op: "acquire", id: "b", waiterTtlMs: 10_000 },
    ]);
    assert.equal(rank(b), 0);
    assert.deepEqual(await ttls(), [10, 10, 10]);
    // A longer one lengthens them; a shorter one leaves them.
    const [c, d] = await play(redis, side, [
      { op: "acquire", id: "c", waiterTtlMs: 60_000 },
      { op: "acquire", id: "d", waiterTtlMs: 5_000 },
    ]);
    assert.deepEqual([rank(c), rank(d)], [1, 2]);
    assert.deepEqual(await ttls(), [60, 60, 60]);
    // They leave; the next joins an empty queue again: its own TTL.
    await play(redis, side, [
      { op: "release", id: "b" },
      { op: "release", id: "c" },
      { op: "release", id: "d" },
    ]);
    assert.deepEqual(await ttls(), [-2, -2, -2]);
    const [e] = await play(redis, side, [
      { op: "acquire", id: "e", waiterTtlMs: 5_000 },
    ]);
    assert.equal(rank(e), 0);
    assert.deepEqual(await ttls(), [5, 5, 5]);
  } finally {
    await redis.send("DEL", ...SUFFIXES.map((s) => `${side.base}:${s}`));
  }
});
