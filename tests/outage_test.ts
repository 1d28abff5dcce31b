import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { connect, ConnectionError, Script } from "../mod.ts";
import { internalsOf } from "../src/client/client.ts";
import { startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";
import { until } from "./_until.ts";

/** A TCP server on 127.0.0.1 that accepts and never answers. */
async function silentServer(): Promise<
  { port: number; close(): Promise<void> }
> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve())
  );
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

test("outage: connection refused rejects with ConnectionError within the connect timeout", async () => {
  await using server = await startRedis();
  await server.kill(); // the port is now closed
  const started = performance.now();
  const error = await connect({ port: server.port, connectTimeoutMs: 3_000 })
    .catch((e) => e);
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(error.message, /127\.0\.0\.1/);
  assert.ok(performance.now() - started < 3_000 + 1_000);
});

test("outage: a server that accepts but never answers fails the connect at the timeout", async () => {
  const silent = await silentServer();
  try {
    const started = performance.now();
    const error = await connect({ port: silent.port, connectTimeoutMs: 300 })
      .catch((e) => e);
    const elapsed = performance.now() - started;
    assert.ok(error instanceof ConnectionError, String(error));
    assert.match(error.message, /300 ms/);
    assert.ok(elapsed >= 250 && elapsed < 5_000, `took ${elapsed} ms`);
  } finally {
    await silent.close();
  }
});

test("outage: server killed with commands in flight: every one settles with ConnectionError; the client reconnects", async () => {
  await using server = await startRedis({
    args: ["--enable-debug-command", "yes"],
  });
  await using redis = await connect({
    url: server.url,
    reconnect: { minDelayMs: 20, maxDelayMs: 200 },
    commandTimeoutMs: 5_000,
  });
  await using admin = await connect(server.url);
  // DEBUG SLEEP holds the server so the commands behind it stay in flight.
  const sleeping = redis.send("DEBUG", "SLEEP", "2");
  const inFlight = Array.from(
    { length: 500 },
    (_, i) => redis.send("ECHO", String(i)),
  );
  const settled = Promise.allSettled([sleeping, ...inFlight]);
  await new Promise((r) => setTimeout(r, 100));
  await server.kill();
  const results = await settled;
  for (const result of results) {
    assert.equal(result.status, "rejected");
    assert.ok(result.reason instanceof ConnectionError, String(result.reason));
  }
  await server.restart();
  // Back up: the same client works again (new commands wait for the reconnect).
  assert.equal(await redis.send("PING"), "PONG");
  assert.equal(await admin.send("PING"), "PONG");
});

test("outage: commands during an outage reject within the command timeout, never hang", async () => {
  await using server = await startRedis();
  await using redis = await connect({
    url: server.url,
    commandTimeoutMs: 400,
    reconnect: { minDelayMs: 50, maxDelayMs: 100 },
  });
  await server.kill();
  await new Promise((r) => setTimeout(r, 50));
  const started = performance.now();
  const error = await redis.send("PING").catch((e) => e);
  const elapsed = performance.now() - started;
  assert.ok(error instanceof ConnectionError, String(error));
  assert.ok(elapsed < 400 + 2_000, `took ${elapsed} ms`);
  await server.restart();
  let pong: unknown;
  for (let i = 0; i < 50 && pong !== "PONG"; i++) {
    pong = await redis.send("PING").catch(() => undefined);
  }
  assert.equal(pong, "PONG");
});

test("outage: a command with no reply within commandTimeoutMs resets the connection", async () => {
  await using server = await startRedis({
    args: ["--enable-debug-command", "yes"],
  });
  await using redis = await connect({
    url: server.url,
    commandTimeoutMs: 300,
    reconnect: { minDelayMs: 20, maxDelayMs: 100 },
  });
  const started = performance.now();
  const error = await redis.send("DEBUG", "SLEEP", "1.5").catch((e) => e);
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(error.message, /no reply within 300 ms/);
  assert.ok(performance.now() - started < 1_400);
  // It reconnects and works again once the server is responsive.
  let pong: unknown;
  for (let i = 0; i < 50 && pong !== "PONG"; i++) {
    pong = await redis.send("PING").catch(() => undefined);
  }
  assert.equal(pong, "PONG");
});

test("scripts: EVALSHA falls back to EVAL after SCRIPT FLUSH and after a restart", async () => {
  await using server = await startRedis();
  await using redis = await connect({
    url: server.url,
    reconnect: { minDelayMs: 20, maxDelayMs: 100 },
  });
  const script = new Script(
    `local key = KEYS[1]
     local step = tonumber(ARGV[1])
     return redis.call("INCRBY", key, step)`,
    { keys: 1, name: "incrBy" },
  );
  const sha = script.sha1;
  assert.equal(await redis.send("SCRIPT", "LOAD", script.source), sha);
  await redis.send("SCRIPT", "FLUSH");
  assert.deepEqual(await redis.send("SCRIPT", "EXISTS", sha), [0]);
  assert.equal(await script.run(redis, ["n"], [2]), 2);
  assert.deepEqual(await redis.send("SCRIPT", "EXISTS", sha), [1]);
  assert.equal(await script.run(redis, ["n"], [3]), 5);
  await redis.send("SCRIPT", "FLUSH");
  // Many concurrent runs after a flush all recover.
  const many = await Promise.all(
    Array.from({ length: 100 }, () => script.run(redis, ["m"], [1])),
  );
  assert.equal(Math.max(...many as number[]), 100);
  await server.kill();
  await server.restart();
  let result: unknown;
  for (let i = 0; i < 50 && result === undefined; i++) {
    result = await script.run(redis, ["n"], [7]).catch(() => undefined);
  }
  assert.equal(result, 7); // no persistence: the counter restarted too
  await assert.rejects(script.run(redis, [], [1]), TypeError);
});

test("outage: a lazy client made while its server is down: commands fail fast with ConnectionError, then work once it is up", async () => {
  await using server = await startRedis();
  await server.kill();
  const started = performance.now();
  await using redis = await connect({
    url: server.url,
    lazy: true,
    commandTimeoutMs: 30_000,
    reconnect: { minDelayMs: 20, maxDelayMs: 200 },
  });
  assert.ok(performance.now() - started < 5_000);
  assert.equal(redis.closed, false);
  assert.equal(redis.url, server.url);
  // Far below the 30 s a command would wait for a reconnect.
  for (let i = 0; i < 5; i++) {
    const sent = performance.now();
    const error = await redis.send("PING").catch((e) => e);
    assert.ok(error instanceof ConnectionError, String(error));
    assert.match(error.message, /127\.0\.0\.1/);
    assert.ok(performance.now() - sent < 10_000, "failed fast");
    await new Promise((r) => setTimeout(r, 30));
  }
  await server.restart();
  await until(
    "the lazy client connected",
    async () => (await redis.send("PING").catch(() => undefined)) === "PONG",
    15_000,
  );
  const key = `test:${crypto.randomUUID()}`;
  assert.equal(await redis.send("SET", key, "up"), "OK");
  assert.equal(await redis.send("GET", key), "up");
  // Once connected, it is an ordinary client: a later outage is waited out.
  await server.kill();
  await until(
    "the client saw its connection drop",
    () => internalsOf(redis).loadedScripts(key) === undefined,
  );
  const waiting = redis.send("GET", key);
  await server.restart();
  assert.equal(await waiting, null); // no persistence
});

test("outage: a lazy client whose server is up: a command sent at once waits for the first connection", async () => {
  await using server = await startRedis();
  await using redis = await connect({ url: server.url, lazy: true });
  assert.equal(await redis.send("PING"), "PONG");
  assert.ok(redis.protocol === 3 || redis.protocol === 2);
});

test("outage: a lazy client closes in every state (attempt under way, between attempts, at once), leaving nothing behind", async () => {
  // An attempt under way: the server accepts and never answers.
  const silent = await silentServer();
  try {
    const redis = await connect({
      port: silent.port,
      lazy: true,
      connectTimeoutMs: 30_000,
    });
    const pending = redis.send("PING").catch((e) => e);
    await new Promise((r) => setTimeout(r, 100));
    const started = performance.now();
    await redis.close();
    assert.ok(performance.now() - started < 5_000);
    assert.ok(redis.closed);
    const error = await pending;
    assert.ok(error instanceof ConnectionError, String(error));
  } finally {
    await silent.close();
  }
  // Between attempts: a long backoff after a refused connection; the
  // password never appears in what it says.
  await using server = await startRedis();
  await server.kill();
  const redis = await connect({
    url: `redis://:hunter2-secret@127.0.0.1:${server.port}`,
    lazy: true,
    reconnect: { minDelayMs: 20_000, maxDelayMs: 30_000 },
  });
  const error = await redis.send("PING").catch((e) => e);
  assert.ok(error instanceof ConnectionError, String(error));
  assert.doesNotMatch(
    `${error.message} ${(error.cause as Error | undefined)?.message}`,
    /hunter2/,
  );
  const again = await redis.send("PING").catch((e) => e);
  assert.ok(again instanceof ConnectionError, String(again));
  const started = performance.now();
  await redis.close();
  assert.ok(performance.now() - started < 5_000);
  await assert.rejects(redis.send("PING"), /closed/);
  // At once, before any attempt settled; twice is harmless.
  const quick = await connect({ port: server.port, lazy: true });
  await Promise.all([quick.close(), quick.close()]);
  assert.ok(quick.closed);
});

test("outage: 'lazy' is validated: a boolean, not with reconnect: false nor a cluster", async () => {
  await assert.rejects(
    // @ts-expect-error: not a boolean
    connect({ lazy: "yes" }),
    (e: unknown) => e instanceof TypeError && /'lazy'/.test(e.message),
  );
  await assert.rejects(
    connect({ lazy: true, reconnect: false }),
    (e: unknown) => e instanceof TypeError && /'lazy'/.test(e.message),
  );
  await assert.rejects(
    connect({ url: "redis+cluster://127.0.0.1:7000", lazy: true }),
    (e: unknown) => e instanceof TypeError && /'lazy'/.test(e.message),
  );
});

test("outage: a lazy Sentinel client with no sentinel up resolves, fails fast, and closes", async () => {
  await using server = await startRedis();
  await server.kill(); // a free port: no sentinel there
  const redis = await connect({
    url: `redis+sentinel://127.0.0.1:${server.port}/mymaster`,
    lazy: true,
    commandTimeoutMs: 30_000,
  });
  const started = performance.now();
  const error = await redis.send("PING").catch((e) => e);
  assert.ok(error instanceof ConnectionError, String(error));
  assert.ok(performance.now() - started < 15_000, "failed fast");
  await redis.close();
  assert.ok(redis.closed);
});
