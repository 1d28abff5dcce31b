import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { connect, Mutex } from "../mod.ts";
import { sharedRedisUrl, startRedis } from "../harness/server.ts";
import { type Script, startScript } from "../harness/spawn.ts";
import { test } from "./_test.ts";

const url = sharedRedisUrl();
const workerFile = fileURLToPath(new URL("./_lock_worker.ts", import.meta.url));

const startWorker = (args: string[]) => startScript(workerFile, args);
const stop = (worker: Script) => worker.stop();

for (
  const [permits, strategy] of [[1, "blocking"], [3, "blocking"], [
    1,
    "polling",
  ]] as const
) {
  test(
    `process: 4 OS processes never exceed ${permits} holder(s) (${strategy}); mutex tokens only go up`,
    async () => {
      const name = `proc:${crypto.randomUUID()}`;
      const workers = Array.from(
        { length: 4 },
        () =>
          startWorker(["loop", url, name, String(permits), "150", strategy]),
      );
      try {
        const results = (await Promise.all(workers.map((w) => w.lines))).map((
          lines,
        ) => lines.at(-1)!);
        let total = 0;
        let maxSeen = 0;
        for (const result of results) {
          assert.equal(result.violations, 0);
          total += result.acquired;
          maxSeen = Math.max(maxSeen, result.maxSeen);
        }
        assert.equal(total, 600);
        assert.ok(maxSeen <= permits, `saw ${maxSeen} holders`);
        if (permits > 1) assert.ok(maxSeen > 1, "the test saw no concurrency");
      } finally {
        await Promise.all(workers.map(stop));
      }
    },
    { timeoutMs: 120_000 },
  );
}

test("process: a holder killed with SIGKILL frees the mutex after its lease; a blocked waiter gets it without polling", async () => {
  await using server = await startRedis();
  await using redis = await connect(server.url);
  const name = `crash:${crypto.randomUUID()}`;
  const leaseMs = 1_000;
  const holder = startWorker(["hold", server.url, name, "1", String(leaseMs)]);
  try {
    const { acquired: deadToken } = await holder.first;
    const mutex = new Mutex(redis, name, { leaseMs });
    assert.equal(await mutex.tryAcquire(), undefined);
    const waiting = mutex.acquire(AbortSignal.timeout(leaseMs + 10_000));
    await new Promise((r) => setTimeout(r, 100)); // the waiter is blocked now
    await redis.send("CONFIG", "RESETSTAT");
    const killedAt = performance.now();
    await holder.stop();
    // The dead holder's lease end, by the server's clock (after its last renewal).
    const expiry = await redis.send(
      "ZSCORE",
      `redsync:{${name}}:holders`,
      String(await redis.send("ZRANGE", `redsync:{${name}}:holders`, 0, 0)),
    );
    const lease = await waiting;
    const recoveryMs = performance.now() - killedAt;
    const [seconds, micros] = await redis.send("TIME") as string[];
    const slackMs = Number(seconds) * 1000 + Number(micros) / 1000 -
      Number(expiry ?? NaN);
    const stats = String(await redis.send("INFO", "commandstats"));
    // Commands sent by clients (scripts' inner calls are counted apart).
    const calls = [
      ...stats.matchAll(/cmdstat_(?:evalsha|eval|blpop):calls=(\d+)/g),
    ].reduce(
      (sum, m) => sum + Number(m[1]),
      0,
    );
    console.log(
      `recovery after SIGKILL: ${
        recoveryMs.toFixed(0)
      } ms (lease ${leaseMs} ms); slack after the lease ended ${
        slackMs.toFixed(1)
      } ms; ${calls} Redis commands meanwhile`,
    );
    assert.ok(lease.token > deadToken);
    // Within the lease plus a slack, and not by polling: a handful of commands.
    assert.ok(recoveryMs <= leaseMs + 2_000, `took ${recoveryMs} ms`);
    assert.ok(slackMs >= 0 && slackMs < 1_000, `slack ${slackMs} ms`);
    assert.ok(calls <= 6, `${calls} commands: that is polling`);
    await lease.release();
  } finally {
    await stop(holder);
  }
});
