import assert from "node:assert/strict";
import { connect, ConnectionError } from "../mod.ts";
import { defaultConnector, nodeConnector } from "../src/transport/mod.ts";
import { startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";

test("auth: requirepass: no password or a wrong one is refused, the right one works", async () => {
  const password = "p@ss:w/rd secret";
  await using server = await startRedis({ password });
  const none = await connect(server.url).catch((e) => e);
  assert.ok(none instanceof ConnectionError, String(none));
  assert.match(none.message, /requires a password/);
  {
    // RESP2 has no handshake to fail: the first command is refused instead.
    await using resp2 = await connect({ url: server.url, protocol: 2 });
    const error = await resp2.send("PING").catch((e) => e);
    assert.equal(error.code, "NOAUTH");
  }
  const wrong = await connect({ url: server.url, password: "nope" }).catch((
    e,
  ) => e);
  assert.ok(wrong instanceof ConnectionError, String(wrong));
  assert.match(wrong.message, /WRONGPASS|invalid/i);
  const encoded = server.url.replace(
    "redis://",
    `redis://:${encodeURIComponent(password)}@`,
  );
  await using redis = await connect(encoded);
  assert.equal(await redis.send("PING"), "PONG");
  // RESP2 authenticates with AUTH instead of HELLO.
  await using resp2 = await connect({ url: server.url, password, protocol: 2 });
  assert.equal(await resp2.send("PING"), "PONG");
});

test("auth: ACL users: the right user and password work, errors hide the password", async () => {
  await using server = await startRedis({
    aclUsers: [
      "alice on >alice-secret ~app:* &* +@all",
      "bob on >bob-secret ~* -@all +ping",
    ],
  });
  const url = server.url.replace("redis://", "redis://alice:alice-secret@");
  await using alice = await connect({ url, clientName: "alice-app" });
  assert.equal(await alice.send("SET", "app:x", "1"), "OK");
  assert.equal(await alice.send("CLIENT", "GETNAME"), "alice-app");
  const denied = await alice.send("SET", "other:x", "1").catch((e) => e);
  assert.equal(denied.code, "NOPERM");
  const wrong = await connect(
    server.url.replace("redis://", "redis://alice:not-her-secret@"),
  ).catch((e) => e);
  assert.ok(wrong instanceof ConnectionError);
  assert.ok(!wrong.message.includes("not-her-secret"), wrong.message);
  // A user without CLIENT permission can still connect (RESP2 fallback not needed).
  await using bob = await connect({
    url: server.url,
    username: "bob",
    password: "bob-secret",
  });
  assert.equal(await bob.send("PING"), "PONG");
});

test("tls: connects to a TLS-only server with the test's CA", async () => {
  await using server = await startRedis({ tls: true });
  assert.ok(server.ca);
  assert.ok(server.url.startsWith("rediss://"));
  const connectors = new Set([defaultConnector(), nodeConnector]);
  for (const connector of connectors) {
    await using redis = await connect({
      url: server.url,
      tls: { ca: server.ca },
      connector,
    });
    assert.equal(await redis.send("SET", "tls:k", "v"), "OK");
    assert.equal(await redis.send("GET", "tls:k"), "v");
    const replies = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => redis.send("ECHO", String(i))),
    );
    assert.equal(replies[999], "999");
  }
  // Without the CA, the certificate is not trusted.
  const untrusted = await connect({ url: server.url, connectTimeoutMs: 5_000 })
    .catch((e) => e);
  assert.ok(untrusted instanceof ConnectionError, String(untrusted));
});

test("tls: servername is the name the certificate is checked against, on every transport", async () => {
  await using server = await startRedis({ tls: true });
  const address = server.url.replace("rediss://", "").split(":")[0];
  assert.equal(address, "127.0.0.1");
  const connectors = new Set([defaultConnector(), nodeConnector]);
  for (const connector of connectors) {
    // The certificate names localhost (and 127.0.0.1), not this name.
    const wrong = await connect({
      url: server.url,
      tls: { ca: server.ca, servername: "not-the-server.example" },
      connectTimeoutMs: 5_000,
      reconnect: false,
      connector,
    }).catch((e) => e);
    assert.ok(wrong instanceof ConnectionError, String(wrong));
    await using right = await connect({
      url: server.url,
      tls: { ca: server.ca, servername: "localhost" },
      connector,
    });
    assert.equal(await right.send("PING"), "PONG");
  }
});
