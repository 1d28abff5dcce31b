import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { AutoResetEvent, connect, ManualResetEvent } from "../mod.ts";
import { sharedRedisUrl } from "../harness/server.ts";
import { startScript } from "../harness/spawn.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { delay, until } from "./_until.ts";

const url = sharedRedisUrl();
const workerFile = fileURLToPath(
  new URL("./_event_worker.ts", import.meta.url),
);

const worker = (args: string[]) => startScript(workerFile, args);

test("manual event: set() lets every waiter through until clear()", async () => {
  await using redis = await connect(url);
  const event = new ManualResetEvent(redis, unique("mre"));
  assert.equal(await event.isSet(), false);
  const waiters = Array.from({ length: 5 }, () => event.wait());
  await until(
    "the 5 waiters to register",
    async () => (await event.info()).waiters === 5,
  );
  const before = await event.info();
  assert.equal(before.isSet, false);
  assert.equal(before.waiters, 5);
  assert.ok(before.keyTtls.listeners > 0);
  assert.equal(await event.set(), 5);
  const after = await event.info();
  assert.deepEqual([after.isSet, after.waiters], [true, 0]);
  assert.ok(after.keyTtls.state > 0);
  await Promise.all(waiters);
  assert.equal(await event.isSet(), true);
  await event.wait(); // passes at once while set
  await event.clear();
  assert.equal(await event.isSet(), false);
  const error = await event.wait(AbortSignal.timeout(50)).catch((e) => e);
  assert.equal(error.name, "TimeoutError");
});

test("manual event: waiters in 4 processes all wake on one set()", async () => {
  await using redis = await connect(url);
  const name = unique("mre-proc");
  const workers = Array.from(
    { length: 4 },
    () => worker(["manual", url, name]),
  );
  try {
    await Promise.all(workers.map((w) => w.first));
    const event = new ManualResetEvent(redis, name);
    await until(
      "the 4 workers to register",
      async () => (await event.info()).waiters === 4,
      20_000,
    );
    assert.equal(await event.isSet(), false);
    await event.set();
    const outputs = await Promise.all(workers.map((w) => w.lines));
    for (const lines of outputs) assert.deepEqual(lines.at(-1), { woken: 1 });
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}, { timeoutMs: 60_000 });

test("auto event: each set() lets exactly one wait() through; sets queue up", async () => {
  await using redis = await connect(url);
  const event = new AutoResetEvent(redis, unique("are"), { maxPending: 3 });
  assert.equal(await event.set(), true);
  assert.equal(await event.set(), true);
  assert.equal(await event.set(), true);
  assert.equal(await event.set(), false, "the fourth exceeds maxPending");
  assert.equal(await event.pending(), 3);
  const info = await event.info();
  assert.equal(info.pending, 3);
  assert.ok(info.ttlMs > 0);
  await event.wait();
  await event.wait();
  await event.wait();
  assert.equal(await event.isSet(), false);
  const error = await event.wait(AbortSignal.timeout(50)).catch((e) => e);
  assert.equal(error.name, "TimeoutError");
  const waiting = event.wait();
  await until(
    "the waiter to queue",
    async () =>
      await redis.send("ZCARD", `redsync:{${event.name}}:takers`) === 1,
  );
  await event.set();
  await waiting;
  await event.set();
  await event.clear();
  assert.equal(await event.isSet(), false);
});

test(
  "auto event: 1,000 sets and randomly aborted waits across 3 processes pair up exactly",
  async () => {
    await using redis = await connect(url);
    const name = unique("are-proc");
    const stopKey = unique("stop");
    const event = new AutoResetEvent(redis, name);
    const workers = Array.from(
      { length: 3 },
      () => worker(["auto", url, name, stopKey]),
    );
    try {
      for (let i = 0; i < 1_000; i++) {
        assert.equal(await event.set(), true);
        if (i % 10 === 0) await delay(3); // idle gaps: waits block, timers abort them
      }
      await redis.send("SET", stopKey, "1", "PX", 60_000);
      const results = (await Promise.all(workers.map((w) => w.lines))).map((
        lines,
      ) => lines.at(-1)!);
      const taken = results.reduce((sum, r) => sum + r.taken, 0);
      const aborted = results.reduce((sum, r) => sum + r.aborted, 0);
      assert.equal(await event.pending(), 0, "a signal was left behind");
      assert.equal(taken, 1_000, `taken ${taken}: signals lost or doubled`);
      assert.ok(aborted > 20, `only ${aborted} aborted waits`);
      for (const r of results) {
        assert.equal(r.late, 0, "a wait ignored its abort");
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await redis.send("DEL", stopKey);
    }
  },
  { timeoutMs: 120_000 },
);

test("events: a wait whose hub connection is killed, and whose wake-up is sent meanwhile, still passes at once (it re-checks Redis)", async () => {
  await using admin = await connect(url);
  const clientName = `evhub-${crypto.randomUUID().slice(0, 8)}`;
  await using redis = await connect({
    url,
    clientName,
    reconnect: { minDelayMs: 20, maxDelayMs: 100 },
  });
  // The hub's connection: the one of this client that is subscribed.
  const hubId = async () => {
    const line = String(await admin.send("CLIENT", "LIST")).split("\n").find(
      (l) => l.includes(` name=${clientName} `) && / sub=[1-9]/.test(l),
    );
    return line ? /\bid=(\d+)/.exec(line)![1] : undefined;
  };
  // A long heartbeat (20 s): only the re-check after the kill can let the
  // waits through in time.
  const options = { waiterTtlMs: 60_000 };
  const manual = new ManualResetEvent(redis, unique("killed-m"), options);
  const auto = new AutoResetEvent(redis, unique("killed-a"), options);
  for (const round of ["manual", "auto"] as const) {
    const started = performance.now();
    const waiting = round === "manual"
      ? manual.wait(AbortSignal.timeout(30_000))
      : auto.wait(AbortSignal.timeout(30_000));
    waiting.catch(() => {});
    await until("the wait to register and its hub to subscribe", async () => {
      const registered = round === "manual"
        ? (await manual.info()).waiters === 1
        : Number(
          await admin.send("ZCARD", `redsync:{${auto.name}}:takers`),
        ) === 1;
      return registered && await hubId() !== undefined;
    });
    const killed = await hubId();
    await admin.send("CLIENT", "KILL", "ID", killed!);
    // Sent while the hub is down: its message reaches nobody.
    if (round === "manual") {
      await new ManualResetEvent(admin, manual.name).set();
    } else await new AutoResetEvent(admin, auto.name).set();
    await waiting;
    const tookMs = performance.now() - started;
    assert.ok(tookMs < 15_000, `${round}: took ${tookMs} ms`);
    await until(
      "the hub to subscribe again",
      async () => (await hubId()) !== undefined,
    );
    assert.notEqual(await hubId(), killed, "a new hub connection");
  }
  assert.equal(await auto.pending(), 0, "the signal went to the wait");
});

test("events: bad names and options are TypeError/RangeError", async () => {
  await using redis = await connect(url);
  assert.throws(() => new ManualResetEvent(redis, ""), RangeError);
  assert.throws(() => new AutoResetEvent(redis, "x".repeat(5_000)), RangeError);
  assert.throws(
    () => new AutoResetEvent(redis, "e", { maxPending: 0 }),
    RangeError,
  );
  assert.throws(
    () => new ManualResetEvent(redis, "e", { ttlMs: -1 }),
    RangeError,
  );
});
