import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { type Connector, defaultConnector } from "../src/transport/mod.ts";
import { sharedRedisUrl } from "../harness/server.ts";
import { test } from "./_test.ts";
import { delay, until } from "./_until.ts";

const url = sharedRedisUrl();
const key = (name: string) => `test:${crypto.randomUUID()}:${name}`;

test("blocking: a blocked BLPOP does not stall other commands", async () => {
  await using redis = await connect(url);
  const list = key("list");
  const popped = redis.send("BLPOP", list, 0);
  for (let i = 0; i < 10; i++) assert.equal(await redis.send("PING"), "PONG");
  await redis.send("RPUSH", list, "a");
  assert.deepEqual(await popped, [list, "a"]);
});

test("blocking: an abort before the call rejects with signal.reason and sends nothing", async () => {
  await using redis = await connect(url);
  const list = key("list");
  const reason = new Error("changed my mind");
  await assert.rejects(
    redis.command(["BLPOP", list, 0], { signal: AbortSignal.abort(reason) }),
    (e) => e === reason,
  );
  await redis.send("RPUSH", list, "kept");
  assert.deepEqual(await redis.send("LRANGE", list, 0, -1), ["kept"]);
  await redis.send("DEL", list);
});

test("blocking: AbortSignal.timeout unblocks BLPOP and WAIT with a TimeoutError", async () => {
  await using redis = await connect(url);
  const started = performance.now();
  const error = await redis.command(["BLPOP", key("list"), 0], {
    signal: AbortSignal.timeout(100),
  }).catch((e) => e);
  assert.equal(error.name, "TimeoutError");
  // Woken by the signal: BLPOP ... 0 alone would block forever.
  assert.ok(performance.now() - started < 20_000);
  // WAIT has no element to hand back: it is unblocked and rejects too.
  const waitError = await redis.command(["WAIT", 1, 0], {
    signal: AbortSignal.timeout(100),
  }).catch((e) => e);
  assert.equal(waitError.name, "TimeoutError");
  // The pooled connections are reusable afterwards.
  const list = key("list");
  await redis.send("RPUSH", list, "x");
  assert.deepEqual(await redis.send("BLPOP", list, 1), [list, "x"]);
});

test("blocking: beyond maxBlockingConnections commands queue, and a queued one aborts cleanly", async () => {
  await using redis = await connect({ url, maxBlockingConnections: 2 });
  const lists = [key("a"), key("b"), key("c")];
  const first = redis.send("BLPOP", lists[0], 0);
  const second = redis.send("BLPOP", lists[1], 0);
  const controller = new AbortController();
  const third = redis.command(["BLPOP", lists[2], 0], {
    signal: controller.signal,
  });
  const blocked = async () =>
    String(await redis.send("CLIENT", "LIST")).split("\n")
      .filter((l) => l.includes("cmd=blpop")).length;
  await until("two BLPOPs to block", async () => await blocked() >= 2);
  assert.equal(await blocked(), 2);
  controller.abort();
  await assert.rejects(third, { name: "AbortError" });
  await redis.send("RPUSH", lists[0], "1");
  await redis.send("RPUSH", lists[1], "2");
  assert.deepEqual(await first, [lists[0], "1"]);
  assert.deepEqual(await second, [lists[1], "2"]);
  await redis.send("RPUSH", lists[2], "3");
  assert.deepEqual(await redis.send("LRANGE", lists[2], 0, -1), ["3"]);
  await redis.send("DEL", lists[2]);
});

test("blocking: 2,000 pushes against randomly aborted BLPOPs: nothing lost, nothing duplicated", async () => {
  await using redis = await connect(url);
  await using producer = await connect(url);
  const list = key("stress");
  const total = 2_000;
  const received: string[] = [];
  let aborts = 0;
  let lateData = 0; // served before the abort took effect: returned, not lost
  let producing = true;
  // Seeded PRNG so a failure can be replayed.
  let seed = 0x2545f491;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const produce = async () => {
    for (let i = 0; i < total; i++) {
      await producer.send("RPUSH", list, `e${i}`);
      if (i % 20 === 0) await delay(random() * 2);
    }
    producing = false;
  };
  const consume = async () => {
    const deadline = performance.now() + 60_000;
    for (let i = 0; i < 50_000 && performance.now() < deadline; i++) {
      if (!producing && received.length >= total) break;
      if (!producing && i % 50 === 0) {
        const left = await redis.send("LLEN", list);
        if (left === 0) break;
      }
      const controller = new AbortController();
      const mode = random();
      const request = redis.command(["BLPOP", list, "0.2"], {
        signal: controller.signal,
      });
      if (mode < 0.25) controller.abort(); // at once, before the write
      else if (mode < 0.5) queueMicrotask(() => controller.abort());
      let timer: ReturnType<typeof setTimeout> | undefined;
      if (mode >= 0.5 && mode < 0.9) {
        timer = setTimeout(() => controller.abort(), random() * 3);
      } // else: never aborted
      try {
        const reply = await request as [string, string] | null;
        if (reply === null) continue; // the server-side timeout: nothing taken
        received.push(reply[1]);
        if (controller.signal.aborted) lateData++;
      } catch (error) {
        if ((error as Error).name !== "AbortError") throw error;
        aborts++;
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all([produce(), consume(), consume()]);
  const left = await redis.send("LRANGE", list, 0, -1) as string[];
  const all = [...received, ...left];
  assert.equal(new Set(all).size, all.length, "an element was duplicated");
  assert.equal(all.length, total, "an element was lost");
  assert.ok(aborts > 100, `only ${aborts} aborts happened`);
  assert.ok(received.length > 100, `only ${received.length} pops returned`);
  console.log(
    `aborts ${aborts}, pops ${received.length}, served despite abort ${lateData}`,
  );
  await redis.send("DEL", list);
});

test("blocking: when pool connections cannot be opened, queued blocking commands fail instead of hanging", async () => {
  let opened = 0;
  const flaky: Connector = (options, handlers) => {
    // The main connection opens; every pool connection is refused.
    if (++opened > 1) return Promise.reject(new Error("simulated: refused"));
    return defaultConnector()(options, handlers);
  };
  await using redis = await connect({
    url,
    connector: flaky,
    maxBlockingConnections: 1,
  });
  const results = await Promise.allSettled(
    Array.from({ length: 3 }, () => redis.send("BLPOP", key("never"), 0)),
  );
  for (const result of results) {
    assert.equal(result.status, "rejected");
    assert.equal(
      (result as PromiseRejectedResult).reason.name,
      "ConnectionError",
    );
  }
  assert.equal(await redis.send("PING"), "PONG");
});
