import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import {
  connect,
  ConnectionError,
  redactUrl,
  RedisReplyError,
  RedsyncError,
} from "../mod.ts";
import { sharedRedisUrl, startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";

const url = sharedRedisUrl();
const prefix = () => `test:${crypto.randomUUID()}:`;

test("client: SET then GET round-trips a string", async () => {
  await using redis = await connect(url);
  const key = prefix() + "greeting";
  assert.equal(await redis.send("SET", key, "hello"), "OK");
  assert.equal(await redis.send("GET", key), "hello");
  assert.equal(await redis.send("GET", key + ":missing"), null);
  await redis.send("DEL", key);
});

test("client: speaks RESP3 by default and RESP2 when asked", async () => {
  const key = prefix() + "hash";
  {
    await using redis = await connect(url);
    assert.equal(redis.protocol, 3);
    await redis.send("HSET", key, "a", "1", "b", "2");
    const map = await redis.send("HGETALL", key);
    assert.ok(map instanceof Map);
    assert.deepEqual([...map.entries()].sort(), [["a", "1"], ["b", "2"]]);
    assert.equal(await redis.send("HEXISTS", key, "a"), 1);
  }
  {
    await using redis = await connect({ url, protocol: 2 });
    assert.equal(redis.protocol, 2);
    const flat = await redis.send("HGETALL", key);
    assert.ok(Array.isArray(flat));
    assert.equal(flat.length, 4);
    await redis.send("DEL", key);
  }
});

test("client: 10,000 concurrent commands come back in order with the right replies", async () => {
  await using redis = await connect(url);
  const n = 10_000;
  const replies = await Promise.all(
    Array.from({ length: n }, (_, i) => redis.send("ECHO", `v${i}`)),
  );
  for (let i = 0; i < n; i++) assert.equal(replies[i], `v${i}`);
  // Mixed commands on one key, interleaved: every INCR sees its own count.
  const key = prefix() + "counter";
  const counts = await Promise.all(
    Array.from({ length: 2_000 }, () => redis.send("INCR", key)),
  );
  assert.deepEqual(counts, Array.from({ length: 2_000 }, (_, i) => i + 1));
  await redis.send("DEL", key);
});

test("client: binary values round-trip byte for byte", async () => {
  await using redis = await connect(url);
  const key = prefix() + "blob";
  const value = new Uint8Array(256 * 4);
  for (let i = 0; i < value.length; i++) value[i] = (i * 7) % 256;
  await redis.send("SET", key, value);
  const back = await redis.sendBytes("GET", key);
  assert.ok(back instanceof Uint8Array);
  assert.deepEqual([...back], [...value]);
  // A binary key works too, and UTF-8 text is measured in bytes.
  const binKey = new Uint8Array([0, 13, 10, 255]);
  await redis.send("SET", binKey, "héllo 🔒");
  assert.equal(await redis.send("GET", binKey), "héllo 🔒");
  assert.equal(await redis.send("STRLEN", binKey), 11);
  await redis.send("DEL", key, binKey);
});

test("client: error replies reject with RedisReplyError carrying the code", async () => {
  await using redis = await connect(url);
  const key = prefix() + "str";
  await redis.send("SET", key, "v");
  const error = await redis.send("LPUSH", key, "x").catch((e) => e);
  assert.ok(error instanceof RedisReplyError);
  assert.ok(error instanceof RedsyncError);
  assert.equal(error.name, "RedisReplyError");
  assert.equal(error.code, "WRONGTYPE");
  // The connection stays usable after an error reply.
  assert.equal(await redis.send("GET", key), "v");
  // Errors inside a transaction's reply are values, not thrown.
  const [queued, set, exec] = await redis.exclusive(async (send) => {
    await send("MULTI");
    return [
      await send("INCR", key),
      await send("SET", key + ":other", "x"),
      await send("EXEC"),
    ] as const;
  });
  assert.equal(queued, "QUEUED");
  assert.equal(set, "QUEUED");
  assert.ok(Array.isArray(exec));
  assert.ok(exec[0] instanceof RedisReplyError);
  assert.equal(exec[1], "OK");
  await redis.send("DEL", key + ":other");
  await redis.send("DEL", key);
});

test("client: SELECT via the URL path isolates databases", async () => {
  const key = prefix() + "db";
  await using db0 = await connect(url);
  await using db3 = await connect(url.replace(/\/\d*$/, "") + "/3");
  await db3.send("SET", key, "three");
  assert.equal(await db3.send("GET", key), "three");
  assert.equal(await db0.send("GET", key), null);
  await db3.send("DEL", key);
});

test("client: bad input is a TypeError or RangeError before any network call", async () => {
  await assert.rejects(connect("http://127.0.0.1:6379"), TypeError);
  await assert.rejects(connect("not a url"), TypeError);
  await assert.rejects(connect({ port: 0 }), RangeError);
  await assert.rejects(connect({ port: 70_000 }), RangeError);
  await assert.rejects(connect({ db: -1 }), RangeError);
  await assert.rejects(connect({ connectTimeoutMs: 0 }), RangeError);
  await assert.rejects(
    connect({ protocol: 4 as unknown as 2 }),
    TypeError,
  );
  await using redis = await connect(url);
  await assert.rejects(redis.send("SET", "k", Number.NaN), TypeError);
  await assert.rejects(
    redis.send("SET", "k", null as unknown as string),
    TypeError,
  );
  await assert.rejects(redis.send(""), TypeError);
  // Nothing half-written: the connection still answers correctly.
  assert.equal(await redis.send("PING"), "PONG");
});

test("client: a URL password never appears in an error message", async () => {
  const secret = "hunter2-very-secret";
  const error = await connect({
    url: `redis://app:${secret}@127.0.0.1:1/0`,
    connectTimeoutMs: 2_000,
  }).catch((e) => e);
  assert.ok(error instanceof ConnectionError);
  assert.ok(!error.message.includes(secret), error.message);
  assert.ok(!String(error.cause ?? "").includes(secret));
  const bad = await connect(`redis://app:${secret}@exa mple.com`).catch((e) =>
    e
  );
  assert.ok(bad instanceof TypeError);
  assert.ok(!bad.message.includes(secret), bad.message);
});

test("client: close() rejects later commands, and twice is harmless", async () => {
  const redis = await connect(url);
  await redis.close();
  await redis.close();
  assert.ok(redis.closed);
  await assert.rejects(redis.send("PING"), ConnectionError);
});

test("client: close() delivers every command written before it, even with answers still unread", async () => {
  // Closing a socket with unread answers resets the connection, and the
  // server drops what it had not read yet: the transports half-close and
  // let the server close its side. Without that, about 4 runs in 10 lost
  // commands here (on every runtime).
  await using observer = await connect(url);
  const key = prefix() + "count";
  const runs = 10;
  const lost: string[] = [];
  for (let run = 0; run < runs; run++) {
    const redis = await connect(url);
    const first: Promise<unknown>[] = [];
    for (let i = 0; i < 2_000; i++) {
      first.push(redis.send("INCR", key).catch(() => {}));
    }
    await first[100]; // answers are arriving...
    for (let i = 0; i < 2_000; i++) redis.send("INCR", key).catch(() => {});
    await redis.close(); // ...while 2,000 more commands are on their way
    const count = Number(await observer.send("GETDEL", key));
    if (count !== 4_000) lost.push(`run ${run}: ${count} of 4000`);
  }
  assert.deepEqual(lost, []);
});

test("client: RESP3 replies of every type decode", async () => {
  await using server = await startRedis({
    args: ["--enable-debug-command", "yes"],
  });
  await using redis = await connect(server.url);
  assert.equal(redis.protocol, 3);
  const debug = (type: string) => redis.send("DEBUG", "PROTOCOL", type);
  assert.equal(await debug("string"), "Hello World");
  assert.equal(await debug("integer"), 12345);
  assert.equal(await debug("double"), 3.141);
  assert.equal(await debug("bignum"), 1234567999999999999999999999999999999n);
  assert.equal(await debug("null"), null);
  assert.equal(await debug("true"), true);
  assert.equal(await debug("false"), false);
  assert.equal(await debug("verbatim"), "This is a verbatim\nstring");
  const map = await debug("map");
  assert.ok(map instanceof Map);
  assert.equal(map.size, 3);
  const set = await debug("set");
  assert.ok(set instanceof Set);
  assert.equal(set.size, 3);
  assert.deepEqual(await debug("array"), [0, 1, 2]);
  // Attributes are skipped; the reply behind them is the value.
  assert.equal(
    await debug("attrib"),
    "Some real reply following the attribute",
  );
});

test("client: redactUrl hides any password, even one with a raw @ or /", () => {
  const cases: [string, string][] = [
    ["redis://u:p@ss@h:1/0", "redis://u:***@h:1/0"],
    ["redis://u:se/kret@h:1", "redis://u:***@h:1"],
    ["redis://:pw@h", "redis://:***@h"],
    ["redis://token@h", "redis://***@h"],
    ["redis://h:6379/2", "redis://h:6379/2"],
    ["rediss://app:s3cret@db:6379/2", "rediss://app:***@db:6379/2"],
  ];
  for (const [url, shown] of cases) assert.equal(redactUrl(url), shown);
});

test("client: pub/sub and MONITOR are refused before sending (they would desync replies)", async () => {
  await using redis = await connect(url);
  await assert.rejects(redis.send("SUBSCRIBE", "news"), TypeError);
  await assert.rejects(redis.send("psubscribe", "n*"), TypeError);
  await assert.rejects(redis.send("MONITOR"), TypeError);
  assert.equal(await redis.send("PING"), "PONG");
});

test("client: commands that change the shared connection's state are refused, with the alternative", async () => {
  await using redis = await connect(url);
  const cases: [string[], RegExp][] = [
    [["MULTI"], /exclusive/],
    [["exec"], /exclusive/],
    [["WATCH", "k"], /exclusive/],
    [["SELECT", "1"], /'db' option/],
    [["AUTH", "pw"], /'password'/],
    [["HELLO", "3"], /'protocol'/],
    [["CLIENT", "REPLY", "OFF"], /replies/],
    [["RESET"], /close/],
    [["QUIT"], /close/],
  ];
  for (const [args, alternative] of cases) {
    const error = await redis.command(args).catch((e) => e);
    assert.ok(error instanceof TypeError, `${args[0]}: ${error}`);
    assert.match(error.message, alternative);
  }
  // Nothing was sent: the connection still answers in order, in db 0.
  assert.equal(await redis.send("PING"), "PONG");
  assert.equal(await redis.send("CLIENT", "GETNAME"), null);
});

test("client: a raw '/', '?' or '#' in a URL's password is refused without showing any of it; encoded, it works", async () => {
  for (const raw of ["pa/ss", "pa?ss", "pa#ss", "12/34", "12#34"]) {
    const url = `redis://app:${raw}-cr3t@127.0.0.1:1/0`;
    const error = await connect(url).catch((e) => e);
    assert.ok(error instanceof TypeError, `${raw}: ${error}`);
    assert.ok(!error.message.includes("cr3t"), error.message);
    assert.ok(!error.message.includes(raw), error.message);
  }
  // Percent-encoded, the same password is read as it is: the connect then
  // fails on the closed port, with no trace of the password.
  const encoded = `redis://app:${
    encodeURIComponent("pa/ss#-cr3t")
  }@127.0.0.1:1`;
  const refused = await connect({ url: encoded, connectTimeoutMs: 1_000 })
    .catch((e) => e);
  assert.ok(refused instanceof ConnectionError, String(refused));
  assert.ok(!refused.message.includes("cr3t"));
});

test("client: ?db=N in a URL selects that database; a path that says otherwise is a TypeError", async () => {
  const key = prefix() + "querydb";
  const base = url.replace(/\/\d*$/, "");
  await using db4 = await connect(`${base}?db=4`);
  await using path4 = await connect(`${base}/4`);
  await db4.send("SET", key, "four");
  assert.equal(await path4.send("GET", key), "four");
  await db4.send("DEL", key);
  // Both agree: fine; they differ, or the value is no number: refused.
  await (await connect(`${base}/4?db=4`)).close();
  const conflict = await connect(`${base}/2?db=4`).catch((e) => e);
  assert.ok(conflict instanceof TypeError, String(conflict));
  assert.match(conflict.message, /'db'.*path.*2.*4|path.*2.*'db'.*4/);
  const bad = await connect(`redis://:pw-secret@127.0.0.1:1?db=two`).catch((
    e,
  ) => e);
  assert.ok(bad instanceof TypeError, String(bad));
  assert.match(bad.message, /db/);
  assert.ok(!bad.message.includes("pw-secret"), bad.message);
});

test("client: a malformed redis: URL (one slash) shows the expected shape", async () => {
  for (const given of ["redis:/127.0.0.1:6390", "redis:127.0.0.1:6390"]) {
    const error = await connect(given).catch((e) => e);
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, /malformed/);
    assert.match(error.message, /redis:\/\/host:port\/db/);
    assert.ok(error.message.includes(JSON.stringify(given)), error.message);
  }
  const secret = await connect("rediss:/u:pw-secret@h:1").catch((e) => e);
  assert.ok(!secret.message.includes("pw-secret"), secret.message);
});

test("client: an address without a scheme gets a redis:// suggestion", async () => {
  for (const given of ["127.0.0.1:6390", "localhost:6390", "localhost"]) {
    const error = await connect(given).catch((e) => e);
    assert.ok(error instanceof TypeError, String(error));
    assert.ok(
      error.message.includes(`"redis://${given}"`),
      `no suggestion in: ${error.message}`,
    );
  }
  const secret = await connect(":pw-secret@127.0.0.1:6390").catch((e) => e);
  assert.ok(secret instanceof TypeError, String(secret));
  assert.ok(!secret.message.includes("pw-secret"), secret.message);
  assert.match(secret.message, /redis:\/\/:\*\*\*@127\.0\.0\.1:6390/);
});

/** A TCP server on 127.0.0.1 that answers its first bytes with `answer`. */
async function fakeServer(answer: string): Promise<Server & AsyncDisposable> {
  const server = createServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", () => socket.end(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return Object.assign(server, {
    [Symbol.asyncDispose]: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?(): void })
          .closeAllConnections?.();
      }),
  });
}

test("client: a server that answers like HTTP is said not to speak RESP", async () => {
  await using http = await fakeServer(
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
  );
  const port = (http.address() as { port: number }).port;
  const error = await connect({ port, reconnect: false }).catch((e) => e);
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(error.message, /does not speak RESP/);
  assert.match(error.message, /HTTP/);
  assert.ok(error.message.includes(`127.0.0.1:${port}`), error.message);
});

test("client: rediss:// to a plain-TCP Redis fails fast, with a TLS hint", async () => {
  const plain = new URL(url);
  const started = performance.now();
  const error = await connect({
    url: `rediss://127.0.0.1:${plain.port}`,
    reconnect: false,
  }).catch((e) => e);
  const tookMs = performance.now() - started;
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(error.message, /TLS/);
  assert.match(error.message, /redis:\/\//);
  assert.ok(tookMs < 6_000, `took ${Math.round(tookMs)} ms`);
});
