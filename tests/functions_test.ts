/**
 * The lock scripts as Redis Functions: where the server has them, they run
 * with `FCALL` (their helpers defined once per library load, not once per
 * run), loaded on first use and again after the server lost them; where
 * the server or the user refuses functions, as scripts (`EVALSHA`/`EVAL`),
 * with the same results. The 6.x compatibility profiles run every lock test
 * without functions at all.
 */
import assert from "node:assert/strict";
import { connect, Mutex, type RedisClient, Semaphore } from "../mod.ts";
import { startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { until } from "./_until.ts";

/** Calls of each command in `INFO commandstats`, by command name. */
async function calls(redis: RedisClient): Promise<Map<string, number>> {
  const info = String(await redis.send("INFO", "commandstats"));
  const out = new Map<string, number>();
  for (
    const [, name, count] of info.matchAll(/cmdstat_([\w|]+):calls=(\d+)/g)
  ) {
    out.set(name, Number(count));
  }
  return out;
}

/** Our libraries on the server (`FUNCTION LIST`), by name. */
async function libraries(redis: RedisClient): Promise<string[]> {
  const list = await redis.send("FUNCTION", "LIST") as unknown[];
  const names: string[] = [];
  for (const entry of list) {
    const fields = entry instanceof Map
      ? [...entry.entries()].flat()
      : entry as unknown[];
    const at = fields.indexOf("library_name");
    names.push(String(fields[at + 1]));
  }
  return names.filter((name) => name.startsWith("redsync_")).sort();
}

/** A mutex and a semaphore cycle, with a renewal and a read of the state. */
async function cycle(redis: RedisClient): Promise<void> {
  const mutex = new Mutex(redis, unique("fn-mutex"));
  const lease = await mutex.acquire();
  await lease.extend();
  assert.equal((await mutex.info()).holders.length, 1);
  await lease.release();
  const pool = await Semaphore.create(redis, unique("fn-sem"), { permits: 2 });
  const permit = await pool.acquire();
  await permit.release();
}

/** True once `redis`'s lock cycles run with FCALL alone (no script sent). */
async function onlyFunctions(
  admin: RedisClient,
  redis: RedisClient,
): Promise<boolean> {
  const before = await calls(admin);
  await cycle(redis);
  const after = await calls(admin);
  const scripts = (stats: Map<string, number>) =>
    (stats.get("evalsha") ?? 0) + (stats.get("eval") ?? 0);
  return scripts(after) === scripts(before) &&
    (after.get("fcall") ?? 0) > (before.get("fcall") ?? 0);
}

test("functions: lock scripts run with FCALL once the server has them, loaded in the background on first use", async () => {
  await using server = await startRedis();
  await using admin = await connect(server.url);
  await using redis = await connect(server.url);
  // The first runs go as scripts (no caller waits for a FUNCTION LOAD);
  // the libraries are loaded meanwhile: acquire, release, extend, init,
  // info, one each.
  const before = await calls(admin);
  await cycle(redis);
  const first = await calls(admin);
  assert.ok((first.get("eval") ?? 0) > (before.get("eval") ?? 0));
  await until(
    "the libraries to be loaded",
    async () => (await libraries(admin)).length === 5,
  );
  await until("FCALL alone", () => onlyFunctions(admin, redis));
  // A second client (another process) finds them loaded ("already
  // exists"): the same five libraries, and FCALL alone once it knows.
  await using other = await connect(server.url);
  await until(
    "FCALL alone on the second client",
    () => onlyFunctions(admin, other),
  );
  assert.equal((await libraries(admin)).length, 5);
});

test("functions: a server that lost them (FUNCTION FLUSH, a restart without persistence) gets them again, and no call fails meanwhile", async () => {
  await using server = await startRedis();
  await using admin = await connect(server.url);
  await using redis = await connect(server.url);
  await until("FCALL alone", () => onlyFunctions(admin, redis));
  await redis.send("FUNCTION", "FLUSH");
  assert.deepEqual(await libraries(admin), []);
  await cycle(redis); // "Function not found": run as scripts
  await until("FCALL alone again", () => onlyFunctions(admin, redis));
  assert.equal((await libraries(admin)).length, 5);
  await server.restart();
  await cycle(redis);
  await until(
    "FCALL alone after the restart",
    () => onlyFunctions(admin, redis),
  );
});

test("functions: a user who may not load or call functions runs the same locks as scripts", async () => {
  await using server = await startRedis({
    aclUsers: [
      "noload on >pw ~* &* +@all -function",
      "nocall on >pw ~* &* +@all -fcall -function",
    ],
  });
  await using admin = await connect(server.url);
  const url = new URL(server.url);
  for (const user of ["noload", "nocall"]) {
    url.username = user;
    url.password = "pw";
    await using redis = await connect(url.href);
    for (let i = 0; i < 5; i++) await cycle(redis);
    assert.deepEqual(await libraries(admin), [], user);
    assert.equal(await onlyFunctions(admin, redis), false, user);
  }
});
