import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { connect, ConnectionError, Script } from "../mod.ts";
import { startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";

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
