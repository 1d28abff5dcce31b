/**
 * Compatibility: the library picks its paths by what the server answers,
 * not by the version it reports. Run on every server profile of the matrix
 * (`harness/profiles.ts`, `REDSYNC_REDIS_PROFILE`): on Redis 7.0 the hub
 * `BLMPOP`s and a cluster uses `CLUSTER SHARDS` and sharded pub/sub; on the
 * 6.2-like and 6.0-like profiles (the same binary, 7.0's commands taken
 * away) it `BLPOP`s, reads `CLUSTER SLOTS` and polls wake lists. Also: a
 * server older than 5.0 is refused at connect, and `durability.aof` on a
 * server without `WAITAOF` fails with an error that says so.
 */
import assert from "node:assert/strict";
import {
  AutoResetEvent,
  connect,
  ConnectionError,
  Mutex,
  RedisReplyError,
} from "../mod.ts";
import { lacksCommand } from "../src/client/commands.ts";
import type { Connector } from "../src/transport/mod.ts";
import { startCluster } from "../harness/cluster.ts";
import {
  activeProfile,
  profileArgs,
  profileHas,
  PROFILES,
} from "../harness/profiles.ts";
import { startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { until } from "./_until.ts";

const profile = activeProfile();

/** `cmdstat_<name>:calls=N` of an `INFO commandstats` reply (0: never). */
function calls(info: unknown, name: string): number {
  const escaped = name.replace("|", "\\|");
  const match = new RegExp(`cmdstat_${escaped}:calls=(\\d+)`).exec(
    String(info),
  );
  return Number(match?.[1] ?? 0);
}

test("compat: each profile takes away what its version lacks, and no more", () => {
  assert.deepEqual(profileArgs("7.0").args, []);
  for (const name of ["BLMPOP", "SPUBLISH", "SSUBSCRIBE", "LMPOP"]) {
    assert.ok(!profileHas(name, "6.2") && !profileHas(name, "6.0"), name);
    assert.ok(profileHas(name, "7.0"), name);
  }
  assert.ok(!profileHas("cluster|shards", "6.2"));
  assert.ok(profileHas("GETDEL", "6.2") && !profileHas("GETDEL", "6.0"));
  for (const p of PROFILES) {
    for (const name of ["EVAL", "EVALSHA", "BLPOP", "LPOP", "CLIENT"]) {
      assert.ok(profileHas(name, p), `${p} keeps ${name}`);
    }
  }
});

test("compat: 'no such command' answers are told apart from other errors", () => {
  const yes = [
    "ERR unknown command 'blmpop', with args beginning with: '2' ",
    "ERR unknown command `BLMPOP`, with args beginning with: ",
    "ERR unknown subcommand 'shards'. Try CLUSTER HELP.",
    "ERR Unknown subcommand or wrong number of arguments for 'SHARDS'. Try CLUSTER HELP.",
    "NOPERM this user has no permissions to run the 'cluster|shards' command",
  ];
  const no = [
    "NOPERM this user has no permissions to access one of the keys used as arguments",
    "WRONGTYPE Operation against a key holding the wrong kind of value",
    "ERR wrong number of arguments for 'lpop' command",
  ];
  for (const text of yes) assert.ok(lacksCommand(new RedisReplyError(text)));
  for (const text of no) assert.ok(!lacksCommand(new RedisReplyError(text)));
  assert.ok(!lacksCommand(new Error("ERR unknown command")));
});

test("compat: a waiter is woken through BLMPOP, or BLPOP where the server has none", async () => {
  await using server = await startRedis();
  await using redis = await connect(server.url);
  await using other = await connect(server.url);
  const name = unique("hub");
  const holder = await new Mutex(other, name).acquire();
  const before = await other.send("INFO", "commandstats");
  // Several waiters of one client: their grants share its one wake list.
  const waiting = Array.from(
    { length: 5 },
    () => new Mutex(redis, name).acquire(AbortSignal.timeout(20_000)),
  );
  await until(
    "the waiters to queue",
    async () => (await new Mutex(other, name).info()).waiters === 5,
  );
  await holder.release();
  for (const pending of waiting) await (await pending).release();
  const info = await other.send("INFO", "commandstats");
  const blmpop = calls(info, "blmpop") - calls(before, "blmpop");
  const blpop = calls(info, "blpop") - calls(before, "blpop");
  if (profileHas("BLMPOP")) {
    assert.ok(blmpop > 0, "BLMPOP used");
    assert.equal(blpop, 0, "and never BLPOP");
  } else {
    assert.ok(blpop > 0, "BLPOP used");
    assert.equal(blmpop, 0, "BLMPOP is not there");
  }
});

test("compat: on a cluster, the slot map and wake-ups follow what the nodes have", async () => {
  await using cluster = await startCluster({ replicasPerPrimary: 0 });
  await using redis = await connect(cluster.url);
  await using other = await connect(cluster.url);
  const stats = async () =>
    await Promise.all(
      (await cluster.primaries()).map((p) =>
        cluster.cli(p.port, "INFO", "commandstats")
      ),
    );
  const sum = (all: string[], name: string) =>
    all.reduce((n, s) => n + calls(s, name), 0);
  // Lock hand-offs on names over every primary (no lock script pops a
  // list: an LPOP is the hub polling).
  for (let i = 0; i < 6; i++) {
    const name = unique(`c${i}`);
    const holder = await new Mutex(other, name).acquire();
    const waiter = new Mutex(redis, name).acquire(AbortSignal.timeout(20_000));
    await until(
      "the waiter to queue",
      async () => (await new Mutex(other, name).info()).waiters === 1,
    );
    await holder.release();
    await (await waiter).release();
  }
  const locks = await stats();
  if (profileHas("cluster|shards")) {
    assert.ok(sum(locks, "cluster|shards") > 0, "CLUSTER SHARDS asked");
    assert.equal(sum(locks, "cluster|slots"), 0, "never CLUSTER SLOTS");
  } else assert.ok(sum(locks, "cluster|slots") > 0, "CLUSTER SLOTS asked");
  if (profileHas("SSUBSCRIBE")) {
    assert.ok(sum(locks, "ssubscribe") > 0, "sharded pub/sub");
    assert.ok(sum(locks, "spublish") > 0, "scripts publish");
    assert.equal(sum(locks, "lpop"), 0, "no list polled");
  } else assert.ok(sum(locks, "lpop") > 0, "wake lists polled");
  // Events too.
  for (let i = 0; i < 3; i++) {
    const event = new AutoResetEvent(redis, unique(`e${i}`));
    const woken = event.wait(AbortSignal.timeout(20_000));
    await until(
      "the event wait to register",
      async () =>
        Number(await other.send("ZCARD", `redsync:{${event.name}}:takers`)) ===
          1,
    );
    await new AutoResetEvent(other, event.name).set();
    await woken;
  }
});

test("compat: durability.aof on a server without WAITAOF says so", async () => {
  await using server = await startRedis();
  await using redis = await connect(server.url);
  // Redis 7.0 has no WAITAOF either (7.2): every profile here lacks it.
  const mutex = new Mutex(redis, unique("aof"), {
    durability: { replicas: 1, aof: true },
  });
  await assert.rejects(
    mutex.acquire(AbortSignal.timeout(10_000)),
    (error: unknown) => {
      assert.ok(error instanceof RedisReplyError, String(error));
      assert.match(error.message, /durability\.aof needs WAITAOF \(Redis 7\.2/);
      return true;
    },
  );
  assert.equal((await mutex.info()).holders.length, 0, "nothing kept");
});

test("compat: a server older than Redis 5.0 is refused at connect, saying why", async () => {
  // A scripted Redis 4.0: no HELLO, INFO says 4.0.14.
  const connector: Connector = (_options, handlers) => {
    let closed = false;
    return Promise.resolve({
      write(bytes: Uint8Array) {
        const text = new TextDecoder().decode(bytes);
        const replies: string[] = [];
        for (const match of text.matchAll(/\*\d+\r\n\$\d+\r\n([A-Za-z]+)/g)) {
          const command = match[1].toUpperCase();
          if (command === "HELLO") {
            replies.push("-ERR unknown command `HELLO`, with args\r\n");
          } else if (command === "INFO") {
            const info = "# Server\r\nredis_version:4.0.14\r\n";
            replies.push(`$${info.length}\r\n${info}\r\n`);
          } else replies.push("+OK\r\n");
        }
        queueMicrotask(() => {
          if (!closed) {
            handlers.onData(new TextEncoder().encode(replies.join("")));
          }
        });
      },
      close() {
        closed = true;
        handlers.onClose(undefined);
      },
    });
  };
  await assert.rejects(
    connect({ port: 6379, connector, reconnect: false }),
    (error: unknown) => {
      assert.ok(error instanceof ConnectionError, String(error));
      assert.match(error.message, /Redis 5\.0 or later is required/);
      assert.match(error.message, /4\.0\.14/);
      return true;
    },
  );
});

test("compat: the profile in use is the one the runner asked for", () => {
  assert.ok((PROFILES as readonly string[]).includes(profile));
});
