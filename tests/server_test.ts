// Tests of the test helpers themselves: harness/server.ts and tests/_test.ts.
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import process from "node:process";
import { connect as tlsConnect } from "node:tls";
import { sharedRedisUrl, startRedis } from "../harness/server.ts";
import { runtime, test } from "./_test.ts";

/** One RESP command. */
function cmd(...args: string[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) {
    out += `$${new TextEncoder().encode(arg).length}\r\n${arg}\r\n`;
  }
  return out;
}

interface TalkOptions {
  /** Connect with TLS, trusting this CA. */
  ca?: string;
  /** Give up after this many ms. */
  timeoutMs?: number;
}

/**
 * Sends `commands` then QUIT, and returns everything the server sent until it
 * closed the connection (rejects on a socket error or timeout).
 */
function talk(
  port: number,
  commands: string,
  options: TalkOptions = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = options.ca === undefined
      ? netConnect({ host: "127.0.0.1", port })
      : tlsConnect({
        host: "127.0.0.1",
        port,
        ca: options.ca,
        servername: "localhost",
      });
    let data = "";
    let failure: Error | undefined;
    socket.setTimeout(options.timeoutMs ?? 5_000, () => {
      failure ??= new Error("timeout");
      socket.destroy();
    });
    socket.once(
      options.ca === undefined ? "connect" : "secureConnect",
      () => socket.write(commands + cmd("QUIT")),
    );
    socket.on("data", (chunk) => data += String(chunk));
    socket.on("error", (error) => failure ??= error);
    socket.once("close", () => failure ? reject(failure) : resolve(data));
  });
}

async function assertRefused(port: number): Promise<void> {
  await assert.rejects(
    talk(port, cmd("PING")),
    (error: NodeJS.ErrnoException) => {
      assert.equal(error.code, "ECONNREFUSED");
      return true;
    },
  );
}

test("shim: runtime is detected", () => {
  const expected = process.versions.deno !== undefined
    ? "deno"
    : process.versions.bun !== undefined
    ? "bun"
    : "node";
  assert.equal(runtime, expected);
});

test("shim: async test with a short timeout passes", async () => {
  await new Promise((resolve) => setTimeout(resolve, 10));
}, { timeoutMs: 1_000 });

test("startRedis: plain server answers PING, stop() frees the port", async () => {
  const server = await startRedis();
  try {
    assert.equal(server.url, `redis://127.0.0.1:${server.port}`);
    assert.equal(server.ca, undefined);
    assert.equal(await talk(server.port, "PING\r\n"), "+PONG\r\n+OK\r\n");
    // No persistence.
    assert.match(
      await talk(server.port, cmd("CONFIG", "GET", "save")),
      /\$4\r\nsave\r\n\$0\r\n/,
    );
  } finally {
    await server.stop();
  }
  await assertRefused(server.port);
  await server.stop(); // idempotent
});

test("startRedis: password server rejects without AUTH, accepts with it", async () => {
  await using server = await startRedis({ password: 's3cret "pw" \\ x' });
  assert.match(await talk(server.port, cmd("PING")), /^-NOAUTH /);
  assert.match(
    await talk(server.port, cmd("AUTH", "wrong") + cmd("PING")),
    /^-WRONGPASS /,
  );
  assert.equal(
    await talk(server.port, cmd("AUTH", 's3cret "pw" \\ x') + cmd("PING")),
    "+OK\r\n+PONG\r\n+OK\r\n",
  );
  assert.ok(!server.url.includes("s3cret"));
});

test("startRedis: aclUsers are created", async () => {
  await using server = await startRedis({
    aclUsers: ["alice on >alicepw ~* &* +@all", "bob on >bobpw ~bob:* +get"],
  });
  assert.equal(
    await talk(
      server.port,
      cmd("AUTH", "alice", "alicepw") + cmd("ACL", "WHOAMI"),
    ),
    "+OK\r\n$5\r\nalice\r\n+OK\r\n",
  );
  const bob = await talk(
    server.port,
    cmd("AUTH", "bob", "bobpw") + cmd("SET", "bob:1", "x"),
  );
  assert.match(bob, /^\+OK\r\n-NOPERM /);
  // The default user is untouched (no password).
  assert.equal(await talk(server.port, "PING\r\n"), "+PONG\r\n+OK\r\n");
});

test("startRedis: TLS server speaks TLS with its CA", async () => {
  await using server = await startRedis({ tls: true });
  assert.equal(server.url, `rediss://127.0.0.1:${server.port}`);
  assert.ok(
    server.ca?.startsWith("-----BEGIN CERTIFICATE-----"),
    "ca is a PEM certificate",
  );
  const ca = server.ca;
  assert.equal(
    await talk(server.port, cmd("PING"), { ca }),
    "+PONG\r\n+OK\r\n",
  );
  // Not trusted without the CA.
  await assert.rejects(
    new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port: server.port,
        servername: "localhost",
      });
      let failure: Error | undefined;
      socket.once("secureConnect", () => socket.destroy());
      socket.on("error", (error) => failure ??= error);
      socket.once(
        "close",
        () => failure ? reject(failure) : resolve(undefined),
      );
    }),
  );
});

test("startRedis: extra args are passed", async () => {
  await using server = await startRedis({ args: ["--maxmemory", "1mb"] });
  assert.match(
    await talk(server.port, cmd("CONFIG", "GET", "maxmemory")),
    /\$9\r\nmaxmemory\r\n\$7\r\n1048576\r\n/,
  );
});

test("startRedis: kill() refuses, restart() accepts again on the same port", async () => {
  await using server = await startRedis({ password: "pw" });
  const port = server.port;
  const auth = cmd("AUTH", "pw");
  assert.equal(
    await talk(port, auth + cmd("SET", "k", "v")),
    "+OK\r\n+OK\r\n+OK\r\n",
  );
  await server.kill();
  await assertRefused(port);
  await server.kill(); // idempotent
  await server.restart();
  assert.equal(server.port, port);
  // Nothing persisted across the crash.
  assert.equal(
    await talk(port, auth + cmd("GET", "k")),
    "+OK\r\n$-1\r\n+OK\r\n",
  );
  // restart() of a running server stops it first.
  await server.restart();
  assert.equal(await talk(port, auth + cmd("PING")), "+OK\r\n+PONG\r\n+OK\r\n");
});

test("startRedis: await using stops the server", async () => {
  let port = 0;
  {
    await using server = await startRedis();
    port = server.port;
    assert.equal(await talk(port, "PING\r\n"), "+PONG\r\n+OK\r\n");
  }
  await assertRefused(port);
});

test("sharedRedisUrl: REDIS_URL or a clear error", async () => {
  if (process.env.REDIS_URL) {
    const url = new URL(sharedRedisUrl());
    assert.ok(
      url.protocol === "redis:" || url.protocol === "rediss:",
      url.href,
    );
    if (url.protocol === "redis:" && url.hostname === "127.0.0.1") {
      assert.match(
        await talk(Number(url.port), cmd("PING")),
        /^\+PONG\r\n|^-NOAUTH/,
      );
    }
  } else {
    assert.throws(sharedRedisUrl, /deno task test/);
  }
});
