/**
 * Compatibility: the library picks its paths by what the server answers,
 * not by the version it reports. Run on every server profile of the matrix
 * (`harness/profiles.ts`, `REDSYNC_REDIS_PROFILE`): waiters are woken
 * through pub/sub everywhere (no wake list); on Redis 7.0 a cluster uses
 * `CLUSTER SHARDS` and sharded pub/sub; on the 6.2-like and 6.0-like
 * profiles (the same binary, 7.0's commands taken away) it reads
 * `CLUSTER SLOTS` and uses plain pub/sub. Also: a user denied the wake
 * channels gets an error that says so, a releasing user denied `PUBLISH`
 * still releases, a server older than 5.0 is refused at connect, and
 * `durability.aof` on a server without `WAITAOF` fails with an error that
 * says so.
 */
import assert from "node:assert/strict";
import {
  AutoResetEvent,
  connect,
  ConnectionError,
  ManualResetEvent,
  Mutex,
  RedisReplyError,
} from "../mod.ts";
import type { Connector } from "../src/transport/mod.ts";
import { lacksCommand } from "../src/client/commands.ts";
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

test("compat: a waiter is woken through pub/sub on every profile: no wake list is written or popped", async () => {
  await using server = await startRedis();
  await using redis = await connect(server.url);
  await using other = await connect(server.url);
  const name = unique("hub");
  const holder = await new Mutex(other, name).acquire();
  const before = await other.send("INFO", "commandstats");
  // Several waiters of one client: their grants share its one channel.
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
  const delta = (command: string) =>
    calls(info, command) - calls(before, command);
  assert.ok(delta("subscribe") > 0, "the hub subscribes");
  assert.ok(delta("publish") > 0, "the scripts publish");
  for (const command of ["blmpop", "blpop", "lpop", "rpush", "lrange"]) {
    assert.equal(delta(command), 0, `no ${command}`);
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
    assert.equal(sum(locks, "subscribe"), 0, "no plain pub/sub");
  } else {
    // Plain pub/sub: PUBLISH reaches subscribers on every node.
    assert.ok(sum(locks, "subscribe") > 0, "plain pub/sub");
    assert.ok(sum(locks, "publish") > 0, "scripts publish");
  }
  assert.equal(sum(locks, "lpop"), 0, "no wake list polled");
  assert.equal(sum(locks, "rpush"), 0, "no wake list written");
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

test("compat: a user without pub/sub on the wake channels gets an error that says so, and nothing is left queued", async () => {
  await using server = await startRedis();
  await using admin = await connect(server.url);
  // No channel at all (the default for new users since Redis 7.0), and
  // channels but no SUBSCRIBE.
  await admin.send(
    "ACL",
    "SETUSER",
    "nochannels",
    "on",
    ">pw",
    "~*",
    "resetchannels",
    "+@all",
  );
  await admin.send(
    "ACL",
    "SETUSER",
    "nosubscribe",
    "on",
    ">pw",
    "~*",
    "&*",
    "+@all",
    "-subscribe",
  );
  for (const username of ["nochannels", "nosubscribe"]) {
    await using redis = await connect({
      url: server.url,
      username,
      password: "pw",
    });
    const name = unique(username);
    const holder = await new Mutex(admin, name).acquire();
    const expected = (error: unknown) => {
      assert.ok(error instanceof RedisReplyError, String(error));
      assert.equal(error.code, "NOPERM");
      assert.match(error.message, /blocking waits need pub\/sub/);
      assert.match(error.message, /&redsync:wake:\*/);
      return true;
    };
    await assert.rejects(
      new Mutex(redis, name).acquire(AbortSignal.timeout(10_000)),
      expected,
    );
    await until(
      "the refused waiter to leave the queue",
      async () => (await new Mutex(admin, name).info()).waiters === 0,
    );
    await holder.release();
    // Event waits too.
    const event = new ManualResetEvent(redis, unique(`${username}-event`));
    await assert.rejects(event.wait(AbortSignal.timeout(10_000)), expected);
  }
});

test("compat: a releasing user without PUBLISH still releases; the waiter finds its grant by re-checking", async () => {
  await using server = await startRedis();
  await using admin = await connect(server.url);
  await admin.send(
    "ACL",
    "SETUSER",
    "nopublish",
    "on",
    ">pw",
    "~*",
    "&*",
    "+@all",
    "-publish",
  );
  await using releaser = await connect({
    url: server.url,
    username: "nopublish",
    password: "pw",
  });
  const name = unique("nopublish");
  const holder = await new Mutex(releaser, name).acquire();
  // Short heartbeats: the waiter's re-check finds the grant (no wake-up
  // reaches it: its publish was refused inside the script, which went on).
  const waiting = new Mutex(admin, name, { waiterTtlMs: 600 }).acquire(
    AbortSignal.timeout(20_000),
  );
  await until(
    "the waiter to queue",
    async () => (await new Mutex(admin, name).info()).waiters === 1,
  );
  await holder.release();
  const lease = await waiting;
  const info = await new Mutex(admin, name).info();
  assert.deepEqual(info.holders.map((h) => h.id), [lease.id]);
  await lease.release();
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
