import assert from "node:assert/strict";
import { connect, ConnectionError, Mutex } from "../mod.ts";
import {
  bunConnector,
  type Connector,
  defaultConnector,
  denoConnector,
  detectRuntime,
  nodeConnector,
} from "../src/transport/mod.ts";
import type { TransportHandlers } from "../src/transport/types.ts";
import { sharedRedisUrl } from "../harness/server.ts";
import { runtime, test } from "./_test.ts";

const url = sharedRedisUrl();

test("transport: runtime detection picks this runtime's own sockets", () => {
  assert.equal(detectRuntime(), runtime);
  const expected = {
    deno: denoConnector,
    bun: bunConnector,
    node: nodeConnector,
  };
  assert.equal(defaultConnector(), expected[runtime]);
});

test("transport: the native and the node:net connectors both carry the client", async () => {
  for (const connector of new Set([defaultConnector(), nodeConnector])) {
    await using redis = await connect({ url, connector });
    const key = `test:${crypto.randomUUID()}`;
    const big = "x".repeat(1_000_000); // spans many socket reads and writes
    await redis.send("SET", key, big);
    assert.equal(await redis.send("GET", key), big);
    const replies = await Promise.all(
      Array.from({ length: 5_000 }, (_, i) => redis.send("ECHO", `${i}`)),
    );
    assert.equal(replies[4_999], "4999");
    await redis.send("DEL", key);
  }
});

/** Wraps the real transport and re-cuts every chunk: single bytes, or random sizes. */
function splitting(pieces: "bytes" | "random"): Connector {
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  return async (options, handlers) => {
    const cut: TransportHandlers = {
      onData(chunk) {
        let offset = 0;
        while (offset < chunk.length) {
          const size = pieces === "bytes" ? 1 : 1 + Math.floor(random() * 7);
          // Copies, so nothing downstream may keep a view of a reused buffer.
          handlers.onData(chunk.slice(offset, offset + size));
          offset += size;
        }
      },
      onClose: (error) => handlers.onClose(error),
    };
    const inner = await defaultConnector()(options, cut);
    return {
      write(bytes) {
        let offset = 0;
        while (offset < bytes.length) {
          const size = 1 + Math.floor(random() * 5);
          inner.write(bytes.subarray(offset, offset + size));
          offset += size;
        }
      },
      close: () => inner.close(),
    };
  };
}

test("transport: replies split at every byte and at random sizes decode the same", async () => {
  for (const pieces of ["bytes", "random"] as const) {
    await using redis = await connect({ url, connector: splitting(pieces) });
    const key = `test:${crypto.randomUUID()}`;
    await redis.send("HSET", key, "a", "1", "b", "héllo\r\n");
    const map = await redis.send("HGETALL", key) as Map<string, string>;
    assert.equal(map.get("b"), "héllo\r\n");
    const echoes = await Promise.all(
      Array.from({ length: 300 }, (_, i) => redis.send("ECHO", `e${i}`)),
    );
    assert.deepEqual(echoes, Array.from({ length: 300 }, (_, i) => `e${i}`));
    await redis.send("DEL", key);
  }
});

/** A scripted fake server: answers each written command from a script. */
function scripted(
  answer: (command: string, handlers: TransportHandlers) => void,
): Connector {
  return (_options, handlers) => {
    let closed = false;
    return Promise.resolve({
      write(bytes) {
        if (closed) return;
        // Commands are arrays of bulk strings: the name is the line after
        // the first "$" of each "*N" header (ASCII-only test commands).
        const lines = new TextDecoder().decode(bytes).split("\r\n");
        for (let i = 0; i < lines.length; i++) {
          if (!lines[i].startsWith("*")) continue;
          const name = lines[i + 2].toUpperCase();
          queueMicrotask(() => answer(name, handlers));
          i += 2 * Number(lines[i].slice(1));
        }
      },
      close() {
        if (closed) return;
        closed = true;
        queueMicrotask(() => handlers.onClose());
      },
    });
  };
}

const encoder = new TextEncoder();

test("transport: the first command of a tick is written at once, the rest of the tick in one write after it, in order", async () => {
  const writes: string[][] = [];
  const scriptedConnector = scripted((command, handlers) => {
    if (command === "HELLO") handlers.onData(encoder.encode("%0\r\n"));
    else handlers.onData(encoder.encode("+OK\r\n"));
  });
  const connector: Connector = async (options, handlers) => {
    const transport = await scriptedConnector(options, handlers);
    return {
      ...transport,
      write(bytes: Uint8Array) {
        const text = new TextDecoder().decode(bytes);
        writes.push(
          [...text.matchAll(/\$\d+\r\n(ECHO)\r\n\$\d+\r\n(\w+)/g)].map((m) =>
            m[2]
          ),
        );
        transport.write(bytes);
      },
    };
  };
  await using redis = await connect({ port: 1, reconnect: false, connector });
  writes.length = 0; // the handshake's
  const sent = ["a", "b", "c", "d"].map((word) => redis.send("ECHO", word));
  // The first is out before the call returns; the rest are not yet.
  assert.deepEqual(writes, [["a"]]);
  await Promise.all(sent);
  assert.deepEqual(writes, [["a"], ["b", "c", "d"]]);
});

test("transport: one command a tick is written at once for the whole process: a second connection's commands go together at the tick's end", async () => {
  const writes: string[] = [];
  /** A connector whose writes are logged as `tag:word,word`. */
  const tagged = (tag: string): Connector => {
    const scriptedConnector = scripted((command, handlers) => {
      if (command === "HELLO") handlers.onData(encoder.encode("%0\r\n"));
      else handlers.onData(encoder.encode("+OK\r\n"));
    });
    return async (options, handlers) => {
      const transport = await scriptedConnector(options, handlers);
      return {
        ...transport,
        write(bytes: Uint8Array) {
          const text = new TextDecoder().decode(bytes);
          const words = [
            ...text.matchAll(/\$\d+\r\n(ECHO)\r\n\$\d+\r\n(\w+)/g),
          ].map((m) => m[2]);
          if (words.length > 0) writes.push(`${tag}:${words.join(",")}`);
          transport.write(bytes);
        },
      };
    };
  };
  const open = (tag: string) =>
    connect({ port: 1, reconnect: false, connector: tagged(tag) });
  await using one = await open("one");
  await using two = await open("two");
  const sent = [
    one.send("ECHO", "a"),
    two.send("ECHO", "b"),
    two.send("ECHO", "c"),
    one.send("ECHO", "d"),
  ];
  // Only the tick's first command is out before the calls return.
  assert.deepEqual(writes, ["one:a"]);
  await Promise.all(sent);
  // Each connection's rest at the tick's end, in the order they began.
  assert.deepEqual(writes, ["one:a", "one:d", "two:b,c"]);
  // A later tick: its first command (here on the second connection) goes
  // at once again.
  writes.length = 0;
  const later = [two.send("ECHO", "e"), one.send("ECHO", "f")];
  assert.deepEqual(writes, ["two:e"]);
  await Promise.all(later);
  assert.deepEqual(writes, ["two:e", "one:f"]);
});

test("transport: a malformed reply fails pending commands with ConnectionError", async () => {
  await using redis = await connect({
    port: 1,
    reconnect: false,
    connector: scripted((command, handlers) => {
      if (command === "HELLO") handlers.onData(encoder.encode("%0\r\n"));
      else handlers.onData(encoder.encode("?garbage\r\n"));
    }),
  });
  const error = await redis.send("PING").catch((e) => e);
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(error.message, /Protocol error/);
  await assert.rejects(redis.send("PING"), ConnectionError);
});

test("transport: a reset mid-reply fails the command, never hangs", async () => {
  await using redis = await connect({
    port: 1,
    reconnect: false,
    connector: scripted((command, handlers) => {
      if (command === "HELLO") handlers.onData(encoder.encode("%0\r\n"));
      else {
        handlers.onData(encoder.encode("$10\r\nhalf")); // then the peer resets
        handlers.onClose(new Error("ECONNRESET"));
      }
    }),
  });
  const error = await redis.send("GET", "k").catch((e) => e);
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(error.message, /ECONNRESET/);
});

test("transport: a Redis without HELLO (RESP2 only) is spoken to in RESP2", async () => {
  const seen: string[] = [];
  await using redis = await connect({
    port: 1,
    password: "pw",
    db: 2,
    connector: scripted((command, handlers) => {
      seen.push(command);
      if (command === "HELLO") {
        handlers.onData(encoder.encode("-ERR unknown command 'HELLO'\r\n"));
      } else if (command === "GET") {
        handlers.onData(encoder.encode("$2\r\nhi\r\n"));
      } else handlers.onData(encoder.encode("+OK\r\n"));
    }),
  });
  assert.equal(redis.protocol, 2);
  assert.equal(await redis.send("GET", "k"), "hi");
  // Without HELLO it may be older than Redis 6: the version is asked.
  assert.deepEqual(seen, ["HELLO", "AUTH", "SELECT", "INFO", "GET"]);
});

test("transport: a server older than Redis 5.0 is refused with a clear error", async () => {
  const old = (version: string) =>
    scripted((command, handlers) => {
      if (command === "HELLO") {
        handlers.onData(encoder.encode("-ERR unknown command 'HELLO'\r\n"));
      } else if (command === "INFO") {
        const text = `# Server\r\nredis_version:${version}\r\n`;
        handlers.onData(encoder.encode(`$${text.length}\r\n${text}\r\n`));
      } else handlers.onData(encoder.encode("+OK\r\n"));
    });
  const error = await connect({
    port: 1,
    reconnect: false,
    connector: old("4.0.14"),
  }).catch((e) => e);
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(error.message, /Redis 5\.0 or later is required.*4\.0\.14/);
  await using ok = await connect({ port: 1, connector: old("5.0.7") });
  assert.equal(ok.protocol, 2);
});

/** Every message, stack and cause of `error`, as one string. */
function allText(error: unknown): string {
  const parts: string[] = [];
  for (let e = error; e !== undefined && parts.length < 10;) {
    parts.push(String(e), (e as Error)?.stack ?? "");
    e = (e as Error)?.cause;
  }
  return parts.join("\n");
}

test("transport: a server that echoes the handshake never gets the password into an error", async () => {
  const secret = "s3cret-p@ss";
  const echo = (command: string, handlers: TransportHandlers) =>
    handlers.onData(
      encoder.encode(
        `-ERR unknown command '${command}', with args beginning with: '3' 'AUTH' 'default' '${secret}' \r\n`,
      ),
    );
  for (const protocol of [3, "auto"] as const) {
    const error = await connect({
      port: 1,
      password: secret,
      protocol,
      reconnect: false,
      connector: scripted(echo),
    }).catch((e) => e);
    assert.ok(error instanceof ConnectionError, String(error));
    assert.match(error.message, /refused the credentials: ERR/);
    assert.ok(!allText(error).includes(secret), allText(error));
  }
});

test("transport: with Sentinel, a READONLY reply (a demoted primary) drops the connection and the next one resolves again", async () => {
  let opened = 0;
  let demoted = true;
  const answer = scripted((command, handlers) => {
    const reply = (text: string) => handlers.onData(encoder.encode(text));
    if (command === "HELLO") reply("%0\r\n");
    else if (command === "SENTINEL") {
      reply("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n");
    } else if (command === "ROLE") reply("*1\r\n$6\r\nmaster\r\n");
    else if (command === "SET" && demoted) {
      demoted = false; // the next connection reaches the new primary
      reply("-READONLY You can't write against a read only replica.\r\n");
    } else reply("+OK\r\n");
  });
  const counting: Connector = (options, handlers) => {
    opened++;
    return answer(options, handlers);
  };
  await using redis = await connect({
    sentinel: { nodes: ["127.0.0.1:26379"], name: "mymaster" },
    reconnect: { minDelayMs: 1, maxDelayMs: 5 },
    connector: counting,
  });
  const afterConnect = opened; // a sentinel connection, then the primary's
  const error = await redis.send("SET", "k", "v").catch((e) => e);
  // Under Sentinel a demoted primary fails the command like a lost
  // connection (waits retry it), not as a reply to act on.
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(error.message, /no longer the primary \(READONLY\)/);
  assert.equal(await redis.send("SET", "k", "v"), "OK");
  // Dropped and reopened: one more sentinel query and one more primary.
  assert.equal(opened, afterConnect + 2);
});

test("transport: a wake hub told LOADING (a restarted Redis) subscribes again and goes on: nothing is thrown from it", async () => {
  let subscribes = 0;
  await using redis = await connect({
    port: 1,
    connector: scripted((command, handlers) => {
      const reply = (text: string) => handlers.onData(encoder.encode(text));
      if (command === "HELLO") reply("%0\r\n");
      else if (command === "EVAL" || command === "EVALSHA") {
        reply("*4\r\n:0\r\n:-1\r\n:0\r\n:1000\r\n"); // queued, nobody to wake for
      } else if (command === "SUBSCRIBE") {
        // The first one meets a Redis still loading; the next is confirmed.
        reply(
          subscribes++ === 0
            ? "-LOADING Redis is loading the dataset in memory\r\n"
            : "*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n",
        );
      } else reply("*0\r\n");
    }),
  });
  const controller = new AbortController();
  const waiting = new Mutex(redis, "loading").acquire(controller.signal);
  const deadline = performance.now() + 5_000;
  while (subscribes < 2 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(subscribes >= 2, "the hub subscribed again after LOADING");
  controller.abort();
  await assert.rejects(waiting, { name: "AbortError" });
});

test("transport: with Sentinel, a +switch-master message moves every connection to the new primary at once", async () => {
  let primaryPort = 6379;
  const dataPorts: number[] = [];
  let watcher: TransportHandlers | undefined;
  const answer = scripted((command, handlers) => {
    const reply = (text: string) => handlers.onData(encoder.encode(text));
    if (command === "HELLO") reply("%0\r\n");
    else if (command === "SENTINEL") {
      const port = String(primaryPort);
      reply(`*2\r\n$9\r\n127.0.0.1\r\n$${port.length}\r\n${port}\r\n`);
    } else if (command === "SUBSCRIBE") {
      watcher = handlers;
      reply("*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n");
    } else if (command === "ROLE") reply("*1\r\n$6\r\nmaster\r\n");
    else if (command === "INFO") reply("$0\r\n\r\n");
    else reply("+PONG\r\n");
  });
  const recording: Connector = (options, handlers) => {
    if (options.port !== 26379) dataPorts.push(options.port);
    return answer(options, handlers);
  };
  await using redis = await connect({
    sentinel: { nodes: ["127.0.0.1:26379"], name: "mymaster" },
    reconnect: { minDelayMs: 1, maxDelayMs: 5 },
    connector: recording,
  });
  assert.equal(await redis.send("PING"), "PONG");
  assert.deepEqual(dataPorts, [6379]);
  const deadline = performance.now() + 5_000;
  while (!watcher && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(watcher, "the watcher subscribed to +switch-master");
  // The sentinels announce a new primary; nothing is in flight, so only
  // the hint can move the idle main connection.
  primaryPort = 6380;
  const text = "mymaster 127.0.0.1 6379 127.0.0.1 6380";
  watcher.onData(encoder.encode(
    `*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$${text.length}\r\n${text}\r\n`,
  ));
  while (!dataPorts.includes(6380) && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(dataPorts.includes(6380), `data connections: ${dataPorts}`);
  assert.equal(await redis.send("PING"), "PONG");
});
