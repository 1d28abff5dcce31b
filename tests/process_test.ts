import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { connect, Mutex } from "../mod.ts";
import { sharedRedisUrl, startRedis } from "./_server.ts";
import { runtime, test } from "./_test.ts";

const url = sharedRedisUrl();
const workerFile = fileURLToPath(new URL("./_lock_worker.ts", import.meta.url));

interface Worker {
  child: ChildProcess;
  /** Resolves with the parsed JSON lines the worker printed, at exit. */
  lines: Promise<Record<string, number>[]>;
  /** Resolves with the first JSON line. */
  first: Promise<Record<string, number>>;
}

/** Starts the lock worker in this same runtime. */
function startWorker(args: string[]): Worker {
  const command = runtime === "deno"
    ? [process.execPath, "run", "-A", workerFile, ...args]
    : [process.execPath, workerFile, ...args];
  const child = spawn(command[0], command.slice(1), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let resolveFirst: (line: Record<string, number>) => void;
  const first = new Promise<Record<string, number>>((r) => resolveFirst = r);
  child.stdout!.on("data", (chunk) => {
    out += chunk;
    const line = out.split("\n").find((l) => l.startsWith("{"));
    if (line) resolveFirst(JSON.parse(line));
  });
  child.stderr!.on("data", (chunk) => err += chunk);
  const lines = new Promise<Record<string, number>[]>((resolve, reject) => {
    child.on("exit", (code, signal) => {
      if (code !== 0 && signal !== "SIGKILL") {
        reject(
          new Error(`worker exited ${code ?? signal}: ${err.slice(-2000)}`),
        );
      } else {
        resolve(
          out.split("\n").filter((l) => l.startsWith("{")).map((l) =>
            JSON.parse(l)
          ),
        );
      }
    });
  });
  return { child, lines, first };
}

function stop(worker: Worker): Promise<unknown> {
  if (worker.child.exitCode === null && worker.child.signalCode === null) {
    worker.child.kill("SIGKILL");
  }
  return worker.lines.catch(() => undefined);
}

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
    holder.child.kill("SIGKILL");
    await holder.lines;
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
