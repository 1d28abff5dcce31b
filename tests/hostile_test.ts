/**
 * A hostile (or broken) server: replies that claim huge sizes, lines that
 * never end, numbers 20 MB long, too many elements, nesting too deep. Each
 * must fail only the connection that carried it, at a limit, with a short
 * message, and the client must work again on its next connection. No Redis
 * is needed: a scripted fake transport answers every command.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  connect,
  ConnectionError,
  type ConnectOptions,
  RespProtocolError,
} from "../mod.ts";
import type { Connector } from "../src/transport/mod.ts";
import { test } from "./_test.ts";

const encoder = new TextEncoder();

/**
 * Sends bytes as the server, as one chunk; `false` once the client closed
 * the socket (nothing more is delivered then).
 */
type Send = (bytes: string | Uint8Array) => boolean;

/** A scripted fake server and what it saw. */
interface Fake {
  connector: Connector;
  /** Connections opened so far. */
  opened: number;
  /** Connections the client closed or destroyed. */
  closed: number;
}

/**
 * A fake server that answers each command (its upper-cased name) from
 * `answer`, told which connection (1, 2, ...) it came on. `HELLO` gets an
 * empty RESP3 map unless `answer` handles it.
 */
function scripted(
  answer: (command: string, send: Send, connection: number) => void,
): Fake {
  const fake: Fake = { connector: undefined!, opened: 0, closed: 0 };
  fake.connector = (_options, handlers) => {
    const connection = ++fake.opened;
    let closed = false;
    const send: Send = (bytes) => {
      if (closed) return false;
      handlers.onData(
        typeof bytes === "string" ? encoder.encode(bytes) : bytes,
      );
      return !closed;
    };
    const close = () => {
      if (closed) return;
      closed = true;
      fake.closed++;
      queueMicrotask(() => handlers.onClose());
    };
    return Promise.resolve({
      write(bytes) {
        if (closed) return;
        // Commands are arrays of bulk strings: the name is the line after
        // the first "$" of each "*N" header (ASCII-only test commands).
        const lines = new TextDecoder().decode(bytes).split("\r\n");
        for (let i = 0; i < lines.length; i++) {
          if (!lines[i].startsWith("*")) continue;
          const name = lines[i + 2].toUpperCase();
          queueMicrotask(() => {
            if (name === "HELLO") send("%0\r\n");
            else answer(name, send, connection);
          });
          i += 2 * Number(lines[i].slice(1));
        }
      },
      close,
      destroy: close,
    });
  };
  return fake;
}

/**
 * Connects through `fake`, fast reconnects. The first connection's `GET`
 * gets `hostile` (sent by the function, or as is); every other command, and
 * every later connection, gets normal answers (`GET` answers `$2\r\nok`).
 */
function hostileOnce(
  hostile: string | ((send: Send) => void),
): Fake {
  return scripted((command, send, connection) => {
    if (command === "GET" && connection === 1) {
      if (typeof hostile === "string") send(hostile);
      else hostile(send);
    } else if (command === "GET") send("$2\r\nok\r\n");
    else send("+OK\r\n");
  });
}

const FAST: ConnectOptions = {
  port: 1,
  reconnect: { minDelayMs: 1, maxDelayMs: 10 },
  commandTimeoutMs: 2_000, // a test that fails does so quickly
};

/**
 * Sends `GET` on a client whose first connection meets `hostile`; checks the
 * command fails with a short ConnectionError caused by a RespProtocolError
 * matching `why`, that only that connection closed, and that the next `GET`
 * works on a new one. Returns the error.
 */
async function failsThenRecovers(
  hostile: string | ((send: Send) => void),
  why: RegExp,
  options: ConnectOptions = {},
): Promise<ConnectionError> {
  const fake = hostileOnce(hostile);
  await using redis = await connect({
    ...FAST,
    ...options,
    connector: fake.connector,
  });
  const error = await redis.send("GET", "k").catch((e) => e);
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(
    error.message,
    /^Protocol error from redis:\/\/127\.0\.0\.1:1: /,
  );
  const cause = error.cause;
  assert.ok(cause instanceof RespProtocolError, String(cause));
  assert.match(cause.message, why);
  // Short messages: the bad bytes are quoted 100 at most.
  assert.ok(cause.message.length <= 200, cause.message);
  assert.ok(error.message.length <= 300, error.message);
  assert.equal(fake.closed, 1); // that connection, and only it
  // The client reconnects, and the next command works.
  assert.equal(await redis.send("GET", "k"), "ok");
  assert.equal(fake.opened, 2);
  return error;
}

test("hostile: a $2147483648 header fails at once, before any data, without allocating", async () => {
  let delivered = true;
  await failsThenRecovers((send) => {
    // The header alone: no data ever follows, yet the command fails.
    send("$2147483648\r\n");
    delivered = send("x"); // the connection is already closed
  }, /2147483648 bytes, more than 536870912 \(maxBulkBytes\)/);
  assert.equal(delivered, false);
  // The largest allowed length is taken on its word only as far as the
  // bytes go: the decoder's buffer grows with them (see resp_test.ts).
});

test("hostile: maxBulkBytes and maxAggregateLength are connect options", async () => {
  await failsThenRecovers(
    "$1001\r\n",
    /1001 bytes, more than 1000 \(maxBulkBytes\)/,
    { maxBulkBytes: 1000 },
  );
  await failsThenRecovers(
    "*11\r\n",
    /11 elements, more than 10 \(maxAggregateLength\)/,
    { maxAggregateLength: 10 },
  );
  // At the limits, replies decode.
  const fake = scripted((command, send) => {
    if (command === "GET") send(`$1000\r\n${"x".repeat(1000)}\r\n`);
    else send(`*10\r\n${":1\r\n".repeat(10)}`);
  });
  await using redis = await connect({
    ...FAST,
    maxBulkBytes: 1000,
    maxAggregateLength: 10,
    connector: fake.connector,
  });
  assert.equal(await redis.send("GET", "k"), "x".repeat(1000));
  assert.deepEqual(await redis.send("LRANGE", "k", 0, -1), Array(10).fill(1));
});

test("hostile: bad maxBulkBytes and maxAggregateLength are RangeErrors", async () => {
  for (const field of ["maxBulkBytes", "maxAggregateLength"]) {
    for (const bad of [0, -1, 1.5, NaN, 2 ** 32, "1000"]) {
      await assert.rejects(
        connect({ port: 1, [field]: bad } as ConnectOptions),
        (error: unknown) => {
          assert.ok(error instanceof RangeError, String(error));
          assert.match(error.message, new RegExp(`'${field}' must be`));
          return true;
        },
      );
    }
  }
});

test("hostile: a line that never ends fails at the line limit", async () => {
  let sent = 0;
  await failsThenRecovers((send) => {
    const chunk = "a".repeat(4096);
    if (!send("+")) return;
    while (sent < 10_000_000 && send(chunk)) sent += chunk.length;
  }, /line longer than 65536 bytes \(maxLineBytes\)/);
  // It stopped at the limit: 64 KiB and the chunk that went past it.
  assert.ok(sent <= 65_536 + 4096, `${sent} bytes sent`);
  // Also for errors, doubles and big numbers.
  for (const type of ["-", ",", "("]) {
    await failsThenRecovers(
      `${type}${"1".repeat(70_000)}`,
      /line longer than 65536 bytes/,
    );
  }
});

test("hostile: a 20 MB integer line fails at the line limit, not after parsing it", async () => {
  const digits = "1".repeat(20_000_000);
  await failsThenRecovers(`:${digits}\r\n`, /integer longer than 40 bytes/);
  // The same line in 64 KiB pieces fails with the first piece.
  let pieces = 0;
  const line = encoder.encode(`:${digits}\r\n`);
  await failsThenRecovers((send) => {
    for (let at = 0; at < line.length; at += 65_536) {
      pieces++;
      if (!send(line.subarray(at, at + 65_536))) break;
    }
  }, /integer longer than 40 bytes/);
  assert.equal(pieces, 1);
  // Length headers: 20 bytes at most.
  await failsThenRecovers(`*${"9".repeat(30)}`, /"\*" header longer than 20/);
});

test("hostile: too many elements fail at the aggregate's header", async () => {
  await failsThenRecovers(
    "*16777217\r\n",
    /16777217 elements, more than 16777216 \(maxAggregateLength\)/,
  );
  await failsThenRecovers("%4294967295\r\n", /more than 16777216/);
  // Nested inside an otherwise fine reply.
  await failsThenRecovers(
    "*2\r\n:1\r\n~16777217\r\n",
    /16777217 elements/,
  );
});

test("hostile: nesting deeper than 1000 fails", async () => {
  await failsThenRecovers(
    "*1\r\n".repeat(1001) + ":1\r\n",
    /nested deeper than 1000 \(maxDepth\)/,
  );
  // 1000 levels decode.
  const fake = scripted((_command, send) => {
    send("*1\r\n".repeat(1000) + ":1\r\n");
  });
  await using redis = await connect({ ...FAST, connector: fake.connector });
  let reply = await redis.send("GET", "k");
  for (let depth = 0; depth < 1000; depth++) {
    assert.ok(Array.isArray(reply), `depth ${depth}`);
    reply = reply[0];
  }
  assert.equal(reply, 1);
});

test("hostile: error messages quote at most 100 bytes of a bad line", async () => {
  const garbage = "\u001b[2J" + "z".repeat(60_000);
  for (
    const [reply, why] of [
      [`,${garbage}\r\n`, /bad double/],
      [`(${garbage}\r\n`, /bad big number/],
      [`:${garbage.slice(0, 40)}\r\n`, /bad big number/],
      [`$1${garbage.slice(0, 10)}\r\n`, /bad length/],
    ] as const
  ) {
    const error = await failsThenRecovers(reply, why);
    const cause = error.cause as Error;
    assert.ok(!cause.message.includes("\u001b"), cause.message);
    assert.ok(!cause.message.includes("z".repeat(101)), cause.message);
  }
});

test("hostile: commands in flight on the failed connection all fail; others are unaffected", async () => {
  const fake = scripted((command, send, connection) => {
    if (command === "GET" && connection === 1) send("$2147483648\r\n");
    else if (command === "GET") send("$2\r\nok\r\n");
    else send("+PONG\r\n");
  });
  await using redis = await connect({ ...FAST, connector: fake.connector });
  const results = await Promise.allSettled([
    redis.send("PING"),
    redis.send("GET", "k"),
    redis.send("PING"),
    redis.send("PING"),
  ]);
  assert.equal(results[0].status, "fulfilled");
  for (const result of results.slice(1)) {
    assert.equal(result.status, "rejected");
    assert.ok(result.reason instanceof ConnectionError, String(result.reason));
  }
  assert.equal(await redis.send("GET", "k"), "ok");
  assert.equal(await redis.send("PING"), "PONG");
});
