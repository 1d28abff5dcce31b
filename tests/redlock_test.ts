import assert from "node:assert/strict";
import {
  connect,
  ConnectionError,
  type ConnectOptions,
  DisposedError,
  LockLostError,
  LockNotHeldError,
  LockTimeoutError,
  Mutex,
  type RedisClient,
} from "../mod.ts";
import { inspect } from "../src/admin.ts";
import { QuorumError } from "../src/redlock/errors.ts";
import type { RedlockLease } from "../src/redlock/lease.ts";
import { Redlock } from "../src/redlock/redlock.ts";
import { internalsOf } from "../src/client/client.ts";
import { type Connector, defaultConnector } from "../src/transport/mod.ts";
import { type RedisServer, startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";
import { namer } from "./_names.ts";
import { delay, until } from "./_until.ts";

const unique = namer("redlock");

/** Private servers, and every client opened to them; disposing ends all. */
interface Servers extends AsyncDisposable {
  servers: RedisServer[];
  /**
   * One client per server, in order (closed with the servers); `options`
   * besides each server's URL.
   */
  open(options?: Omit<ConnectOptions, "url">): Promise<RedisClient[]>;
}

async function startServers(count = 3): Promise<Servers> {
  const started = await Promise.allSettled(
    Array.from({ length: count }, () => startRedis()),
  );
  const servers = started.flatMap((s) =>
    s.status === "fulfilled" ? [s.value] : []
  );
  if (servers.length < count) {
    await Promise.all(servers.map((s) => s.stop()));
    throw (started.find((s) =>
      s.status === "rejected"
    ) as PromiseRejectedResult)
      .reason;
  }
  const clients: RedisClient[] = [];
  return {
    servers,
    async open(options) {
      const opened = await Promise.all(
        servers.map((s) => connect({ ...options, url: s.url })),
      );
      clients.push(...opened);
      return opened;
    },
    async [Symbol.asyncDispose]() {
      for (const server of servers) server.signal("SIGCONT");
      await Promise.allSettled(clients.map((c) => c.close()));
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}

/** The live holders of `name` on each server, by id. */
async function holdersOn(
  clients: RedisClient[],
  name: string,
): Promise<string[][]> {
  const infos = await Promise.all(clients.map((c) => inspect(c, name)));
  return infos.map((info) => info.holders.map((h) => h.id));
}

const isTimeout = (e: unknown) =>
  e instanceof DOMException && e.name === "TimeoutError";

/** What the workers of a contention run saw, checked in-process. */
interface Tally {
  /** Leases inside the critical section now. */
  inside: Set<RedlockLease>;
  /** Entries while another holder's lease was still held and valid. */
  overlaps: number;
  /** Each entry's per-server tokens, in the order of entry. */
  tokens: (readonly (number | undefined)[])[];
  /** `performance.now()` of each entry. */
  times: number[];
  errors: unknown[];
}

const newTally = (): Tally => ({
  inside: new Set(),
  overlaps: 0,
  tokens: [],
  times: [],
  errors: [],
});

/** Acquires and releases in a loop until `stopAt`; at most 10,000 times. */
async function worker(lock: Redlock, tally: Tally, stopAt: number) {
  for (let i = 0; i < 10_000; i++) {
    const left = stopAt - performance.now();
    if (left <= 0) return;
    let lease: RedlockLease;
    try {
      // Whole milliseconds: Node's AbortSignal.timeout() refuses fractions.
      lease = await lock.acquire(
        AbortSignal.timeout(Math.ceil(Math.min(left, 3_000))),
      );
    } catch (error) {
      if (!isTimeout(error)) tally.errors.push(error);
      continue;
    }
    for (const other of tally.inside) {
      if (other.held && other.validityMs > 0) tally.overlaps++;
    }
    tally.inside.add(lease);
    tally.tokens.push(lease.tokens);
    tally.times.push(performance.now());
    await delay(1 + Math.random() * 4);
    tally.inside.delete(lease);
    await lease.release().catch((error) => {
      if (!(error instanceof LockLostError)) tally.errors.push(error);
    });
  }
}

/** Every server's tokens, in the order of entry, strictly increase. */
function assertTokensIncrease(tally: Tally, servers: number): void {
  for (let i = 0; i < servers; i++) {
    let last = -Infinity;
    for (const tokens of tally.tokens) {
      const token = tokens[i];
      if (token === undefined) continue;
      assert.ok(token > last, `server ${i}: token ${token} after ${last}`);
      last = token;
    }
  }
}

test("redlock: acquire on 3 servers, exclusion, tryAcquire, release, per-server state and tokens", async () => {
  await using nodes = await startServers();
  const [mine, theirs] = [await nodes.open(), await nodes.open()];
  const name = unique("basic");
  const lock = new Redlock(mine, name, { leaseMs: 5_000 });
  const other = new Redlock(theirs, name, { leaseMs: 5_000 });
  assert.deepEqual(lock.urls, nodes.servers.map((s) => s.url));
  assert.equal(lock.quorum, 2);

  const lease = await lock.acquire(AbortSignal.timeout(2_000));
  assert.ok(lease.held);
  assert.equal(lease.name, name);
  assert.equal(lease.tokens.length, 3);
  for (const token of lease.tokens) assert.equal(typeof token, "number");
  assert.equal(lease.token, Math.max(...lease.tokens as number[]));
  // Validity: the lease minus the drift allowance (1% + 2 ms) and the round.
  assert.ok(lease.validityMs <= 5_000 - 52, `validity ${lease.validityMs}`);
  assert.ok(lease.validityMs > 4_500, `validity ${lease.validityMs}`);
  assert.ok(
    Math.abs(lease.validUntil - performance.now() - lease.validityMs) < 5,
  );
  // Each server holds it as a Mutex of that name would: inspect() shows it.
  const infos = await Promise.all(mine.map((c) => inspect(c, name)));
  infos.forEach((info, i) => {
    assert.equal(info.holders.length, 1);
    assert.equal(info.holders[0].id, lease.id);
    assert.equal(info.holders[0].token, lease.tokens[i]);
  });

  assert.equal(await other.tryAcquire(), undefined);
  assert.deepEqual(other.lastOutcome?.map((o) => o.outcome), [
    "taken",
    "taken",
    "taken",
  ]);
  assert.deepEqual(other.lastOutcome?.map((o) => o.url), other.urls);
  // A held lock is still nobody else's after a failed attempt.
  assert.deepEqual(await holdersOn(theirs, name), [[lease.id], [lease.id], [
    lease.id,
  ]]);

  await lease.release();
  await lease.release(); // a second call does nothing
  assert.ok(!lease.held);
  assert.equal(lease.validityMs, 0);
  assert.ok(!lease.signal.aborted, "a release is not a loss");
  assert.deepEqual(await holdersOn(mine, name), [[], [], []]);
  await assert.rejects(lease.extend(), LockNotHeldError);

  {
    await using next = await other.tryAcquire();
    assert.ok(next);
    next.tokens.forEach((token, i) => assert.ok(token! > lease.tokens[i]!));
    assert.deepEqual(other.lastOutcome?.map((o) => o.outcome), [
      "acquired",
      "acquired",
      "acquired",
    ]);
  } // released here
  assert.deepEqual(await holdersOn(mine, name), [[], [], []]);
});

test("redlock: bad arguments throw TypeError/RangeError before any call", async () => {
  await using nodes = await startServers(4);
  const clients = await nodes.open();
  const [a, b, c, d] = clients;
  const again = await connect(nodes.servers[0].url);
  try {
    assert.throws(() => new Redlock([a, b], "x"), {
      name: "RangeError",
      message:
        "Cannot create a Redlock as 'clients' must hold at least 3 clients of independent servers: current length is 2",
    });
    assert.throws(
      () => new Redlock([a, b, a], "x"),
      /'clients\[2\]' reaches the same server as 'clients\[0\]'/,
    );
    assert.throws(() => new Redlock([a, b, again], "x"), TypeError);
    assert.throws(
      () => new Redlock([a, b, "c" as unknown as RedisClient], "x"),
      /'clients\[2\]' must be a RedisClient/,
    );
    assert.throws(
      () => new Redlock("abc" as unknown as RedisClient[], "x"),
      TypeError,
    );
    assert.throws(() => new Redlock([a, b, c], ""), RangeError);
    assert.throws(
      () => new Redlock([a, b, c], 42 as unknown as string),
      TypeError,
    );
    const bad: [object, ErrorConstructor, RegExp][] = [
      [{ leaseMs: 50 }, RangeError, /'leaseMs' must be an integer in 100\.\./],
      [{ leaseMs: 1_000, nodeTimeoutMs: 600 }, RangeError, /'nodeTimeoutMs'/],
      [{ nodeTimeoutMs: 0 }, RangeError, /'nodeTimeoutMs'/],
      [{ driftFactor: 1 }, RangeError, /'driftFactor'/],
      [{ retryJitter: 2 }, RangeError, /'retryJitter'/],
      [{ retryDelayMs: 0 }, RangeError, /'retryDelayMs'/],
      [{ renew: "yes" }, TypeError, /'renew' must be a boolean/],
      [{ onLost: 1 }, TypeError, /'onLost'/],
      [{ prefix: 1 }, TypeError, /'prefix'/],
      [
        { leaseMs: 100, nodeTimeoutMs: 50, driftFactor: 0.5 },
        RangeError,
        /drift allowance/,
      ],
    ];
    for (const [options, type, message] of bad) {
      assert.throws(() => new Redlock([a, b, c], "x", options), (e: Error) => {
        assert.ok(e instanceof type, `${JSON.stringify(options)}: ${e}`);
        assert.match(e.message, message);
        return true;
      });
    }
    assert.throws(
      () => new Redlock([a, b, c], "x", null as unknown as object),
      TypeError,
    );
    const lock = new Redlock([a, b, c], "x");
    await assert.rejects(
      lock.acquire("soon" as unknown as AbortSignal),
      TypeError,
    );
    await assert.rejects(
      lock.acquire({ signal: 1 as unknown as AbortSignal }),
      TypeError,
    );
    await assert.rejects(
      lock.runExclusive(1 as unknown as () => void),
      TypeError,
    );
    await assert.rejects(lock.runExclusive(() => 1, { wait: -1 }), RangeError);
    // Nothing reached the servers.
    for (const client of clients) assert.equal(await client.send("DBSIZE"), 0);
    // An even number of servers is allowed: 4 need 3.
    assert.equal(new Redlock([a, b, c, d], "x").quorum, 3);
    await again.close();
    assert.throws(() => new Redlock([a, b, again], "x"), /is closed/);
  } finally {
    await again.close();
  }
});

test("redlock: renewal keeps a short lease, takes back a server that lost it, and reports a lost majority", async () => {
  await using nodes = await startServers();
  const clients = await nodes.open();
  const name = unique("renew");
  const lost: LockLostError[] = [];
  const lock = new Redlock(clients, name, {
    leaseMs: 300,
    onLost: (e) => lost.push(e),
  });
  const lease = await lock.acquire(AbortSignal.timeout(2_000));
  await delay(700); // more than twice the lease
  assert.ok(lease.held);
  assert.ok(lease.validityMs > 0);

  // Server 1 loses the entry (a restart without persistence): the next
  // renewal still has a majority and takes server 1 back.
  const holders = `redsync:{${name}}:holders`;
  await clients[1].send("DEL", holders);
  await until("server 1 taken back", async () => {
    const [, held] = await holdersOn([clients[0], clients[1]], name);
    return held.length === 1 && held[0] === lease.id;
  }, 3_000);
  assert.ok(lease.held);

  // Two servers lose it: a majority can no longer be kept.
  await Promise.all([
    clients[0].send("DEL", holders),
    clients[1].send("DEL", holders),
  ]);
  await until("the lease lost", () => lease.signal.aborted, 3_000);
  const reason = lease.signal.reason;
  assert.ok(reason instanceof LockLostError);
  assert.ok(reason.cause instanceof QuorumError, String(reason.cause));
  assert.equal(reason.cause.name, "QuorumError");
  assert.deepEqual(reason.cause.outcomes.map((o) => o.outcome).sort(), [
    "acquired",
    "taken",
    "taken",
  ]);
  assert.deepEqual(lost, [reason]);
  assert.ok(!lease.held);
  await assert.rejects(lease.release(), LockLostError);
  await assert.rejects(lease.extend(), LockLostError);
  await lease[Symbol.asyncDispose](); // does not throw for a loss
  // The lost lease is released on the server that still had it.
  await until(
    "released everywhere",
    async () => (await holdersOn(clients, name)).every((h) => h.length === 0),
    2_000,
  );
});

test("redlock: extend() without renewal, with its own lease length", async () => {
  await using nodes = await startServers();
  const clients = await nodes.open();
  const lock = new Redlock(clients, unique("extend"), {
    leaseMs: 1_000,
    renew: false,
  });
  await using lease = await lock.acquire();
  await delay(300);
  const before = lease.validityMs;
  assert.ok(before < 750, `validity ${before}`);
  await lease.extend();
  assert.ok(lease.validityMs > 900, `validity ${lease.validityMs}`);
  await lease.extend(5_000);
  assert.ok(lease.validityMs > 4_500, `validity ${lease.validityMs}`);
  const infos = await Promise.all(clients.map((c) => inspect(c, lock.name)));
  for (const info of infos) assert.ok(info.holders[0].remainingMs > 4_500);
  await assert.rejects(lease.extend(50), RangeError);
  await lease.extend(1_000); // shorter again: the validity follows
  assert.ok(lease.validityMs <= 1_000, `validity ${lease.validityMs}`);
});

test("redlock: contention, 2 Redlocks x 4 workers over the same 3 servers: one holder at a time, tokens increase per server", async () => {
  await using nodes = await startServers();
  const name = unique("contention");
  const tally = newTally();
  const stopAt = performance.now() + 3_000;
  const locks = [await nodes.open(), await nodes.open()].map((clients) =>
    new Redlock(clients, name, { leaseMs: 2_000, retryDelayMs: 20 })
  );
  await Promise.all(
    locks.flatMap((lock) =>
      Array.from({ length: 4 }, () => worker(lock, tally, stopAt))
    ),
  );
  assert.deepEqual(tally.errors, []);
  assert.equal(tally.overlaps, 0);
  assert.ok(tally.tokens.length >= 30, `${tally.tokens.length} acquisitions`);
  assertTokensIncrease(tally, 3);
  // Nearly every grant got all three servers.
  const full = tally.tokens.filter((t) => t.every((x) => x !== undefined));
  assert.ok(full.length >= tally.tokens.length / 2);
});

test("redlock: a server killed during contention: acquisitions go on, never two holders", async () => {
  await using nodes = await startServers();
  const name = unique("kill");
  const tally = newTally();
  const started = performance.now();
  const stopAt = started + 3_500;
  const locks = [await nodes.open(), await nodes.open()].map((clients) =>
    new Redlock(clients, name, { leaseMs: 1_000, retryDelayMs: 20 })
  );
  const work = Promise.all(
    locks.flatMap((lock) =>
      Array.from({ length: 4 }, () => worker(lock, tally, stopAt))
    ),
  );
  await delay(1_000);
  await nodes.servers[2].kill();
  const killedAt = performance.now();
  await work;
  assert.deepEqual(tally.errors, []);
  assert.equal(tally.overlaps, 0);
  assertTokensIncrease(tally, 3);
  const after = tally.times.filter((t) => t > killedAt + 100).length;
  assert.ok(after >= 15, `${after} acquisitions after the kill`);
  // Those had no token from the dead server.
  const lastTokens = tally.tokens.at(-1)!;
  assert.equal(lastTokens[2], undefined);
  assert.equal(typeof lastTokens[0], "number");
  assert.deepEqual(
    locks[0].lastOutcome?.map((o) => o.outcome).slice(2),
    ["unreachable"],
  );
});

test("redlock: a server frozen (SIGSTOP) past the lease: acquisitions go on, and its stale state lets no second holder in after SIGCONT", async () => {
  await using nodes = await startServers();
  const name = unique("sigstop");
  const tally = newTally();
  const started = performance.now();
  const stopAt = started + 4_500;
  const sets = [await nodes.open(), await nodes.open()];
  const locks = sets.map((clients) =>
    new Redlock(clients, name, { leaseMs: 1_000, retryDelayMs: 20 })
  );
  const work = Promise.all(
    locks.flatMap((lock) =>
      Array.from({ length: 4 }, () => worker(lock, tally, stopAt))
    ),
  );
  const frozen = nodes.servers[2];
  let frozenAt = 0;
  let thawedAt = 0;
  try {
    await delay(800);
    frozen.signal("SIGSTOP");
    frozenAt = performance.now();
    await delay(1_800); // longer than the lease
  } finally {
    frozen.signal("SIGCONT");
    thawedAt = performance.now();
  }
  await work;
  assert.deepEqual(tally.errors, []);
  assert.equal(tally.overlaps, 0);
  assertTokensIncrease(tally, 3);
  const during =
    tally.times.filter((t) => t > frozenAt + 100 && t < thawedAt).length;
  const after = tally.times.filter((t) => t > thawedAt + 100).length;
  assert.ok(during >= 10, `${during} acquisitions while frozen`);
  assert.ok(after >= 10, `${after} acquisitions after SIGCONT`);
  // Whatever the thawed server ran late holds nothing for long: once all
  // is released, each server is free again within a lease.
  await until(
    "all servers free",
    async () => (await holdersOn(sets[0], name)).every((h) => h.length === 0),
    3_000,
  );
});

test("redlock: two servers down: acquire rejects with signal.reason (cause: QuorumError, unreachable), tryAcquire with QuorumError, nothing held on the third", async () => {
  await using nodes = await startServers();
  const clients = await nodes.open();
  const name = unique("down");
  const lock = new Redlock(clients, name, { leaseMs: 2_000, retryDelayMs: 50 });
  await Promise.all([nodes.servers[1].kill(), nodes.servers[2].kill()]);

  const signal = AbortSignal.timeout(600);
  const started = performance.now();
  const error = await lock.acquire(signal).then(
    () => assert.fail("acquired without a majority"),
    (e) => e,
  );
  const waited = performance.now() - started;
  assert.equal(error, signal.reason);
  assert.ok(isTimeout(error));
  assert.ok(waited < 1_200, `rejected after ${waited} ms`);
  const cause = (error as Error).cause;
  assert.ok(cause instanceof QuorumError, String(cause));
  assert.equal(cause.lockName, name);
  assert.equal(cause.quorum, 2);
  assert.deepEqual(cause.outcomes.map((o) => o.outcome), [
    "acquired",
    "unreachable",
    "unreachable",
  ]);
  assert.deepEqual(cause.outcomes.map((o) => o.url), lock.urls);
  assert.match(cause.message, /unreachable/);
  // Nothing is left on the server that answered.
  let info = await inspect(clients[0], name);
  assert.deepEqual(info.holders, []);
  assert.equal(info.queued, 0);

  const failure = await lock.tryAcquire().then(
    () => assert.fail("acquired without a majority"),
    (e) => e,
  );
  assert.ok(failure instanceof QuorumError);
  assert.deepEqual(lock.lastOutcome, failure.outcomes);
  info = await inspect(clients[0], name);
  assert.deepEqual(info.holders, []);
});

test("redlock: aborts leave nothing behind; runExclusive; dispose", async () => {
  await using nodes = await startServers();
  const [mine, theirs] = [await nodes.open(), await nodes.open()];
  const name = unique("abort");
  const lock = new Redlock(mine, name, { leaseMs: 5_000, retryDelayMs: 10 });
  const other = new Redlock(theirs, name, {
    leaseMs: 5_000,
    retryDelayMs: 10,
  });
  // Servers 0 and 1 are held by plain Mutexes of the same name (the same
  // keys): each round takes server 2 only, and must give it back.
  const partial = await Promise.all(
    [0, 1].map((i) => new Mutex(theirs[i], name).acquire()),
  );
  // Aborted at once (its ACQUIREs written, their answers not read yet) or
  // at random points of its rounds, a waiter keeps nothing.
  for (let i = 0; i < 30; i++) {
    const controller = new AbortController();
    const waiting = other.acquire(controller.signal);
    if (i % 2 === 1) await delay(Math.random() * 5);
    const reason = new Error(`stop ${i}`);
    controller.abort(reason);
    await assert.rejects(waiting, (e) => e === reason);
  }
  assert.deepEqual(await holdersOn(theirs, name), [
    [partial[0].id],
    [partial[1].id],
    [],
  ]);
  assert.deepEqual(
    other.lastOutcome?.map((o) => o.outcome),
    ["taken", "taken", "acquired"],
  );
  await Promise.all(partial.map((p) => p.release()));

  const lease = await lock.acquire();
  const aborted = new AbortController();
  aborted.abort();
  await assert.rejects(
    other.acquire(aborted.signal),
    (e) => e === aborted.signal.reason,
  );
  assert.deepEqual(await holdersOn(theirs, name), [[lease.id], [lease.id], [
    lease.id,
  ]]);

  assert.deepEqual(await other.runExclusive(() => 1, { wait: "skip" }), {
    ran: false,
  });
  await assert.rejects(
    other.runExclusive(() => 1, { wait: 100 }),
    LockTimeoutError,
  );
  await lease.release();
  const result = await other.runExclusive(async (signal, held) => {
    assert.ok(!signal.aborted);
    assert.ok(held.held);
    await delay(5);
    return 42;
  }, AbortSignal.timeout(2_000));
  assert.deepEqual(result, { ran: true, value: 42 });
  assert.deepEqual(await holdersOn(mine, name), [[], [], []]);

  // Dispose releases what the object holds and ends its pending acquires.
  const held = await lock.acquire();
  const pending = other.acquire();
  await delay(30);
  await other[Symbol.asyncDispose]();
  await assert.rejects(pending, DisposedError);
  await assert.rejects(other.tryAcquire(), DisposedError);
  await lock[Symbol.asyncDispose]();
  assert.ok(!held.held);
  assert.deepEqual(await holdersOn(mine, name), [[], [], []]);
  await assert.rejects(lock.acquire(), DisposedError);
});

test("redlock: closed clients: a held lease is lost at its next renewal, and acquire rejects at once", async () => {
  await using nodes = await startServers();
  const clients = await nodes.open();
  const name = unique("closed");
  const lock = new Redlock(clients, name, { leaseMs: 300 });
  const lease = await lock.acquire();
  // Closed without releasing (a plain close() releases: see below).
  await Promise.all([
    clients[1].close({ release: false }),
    clients[2].close({ release: false }),
  ]);
  await until("the lease lost", () => lease.signal.aborted, 2_000);
  const reason = lease.signal.reason;
  assert.ok(reason instanceof LockLostError);
  assert.ok(reason.cause instanceof QuorumError);
  assert.deepEqual(reason.cause.outcomes.map((o) => o.outcome), [
    "acquired",
    "error",
    "error",
  ]);
  await until(
    "released on the open server",
    async () => (await inspect(clients[0], name)).holders.length === 0,
    2_000,
  );
  // No retry can cure a closed client: no waiting for the signal.
  const started = performance.now();
  await assert.rejects(lock.acquire(AbortSignal.timeout(5_000)), (e) => {
    assert.ok(e instanceof QuorumError, String(e));
    return true;
  });
  assert.ok(performance.now() - started < 1_000);
  assert.deepEqual((await inspect(clients[0], name)).holders, []);
});

test("redlock: events, logger and metrics, as for a Mutex", async () => {
  await using nodes = await startServers();
  const clients = await nodes.open();
  const name = unique("observe");
  const calls: string[] = [];
  const logged: string[] = [];
  const metrics = {
    wait: (_: string, ms: number, outcome: string) => {
      assert.ok(ms >= 0);
      calls.push(`wait:${outcome}`);
    },
    hold: (_: string, ms: number) => {
      assert.ok(ms >= 0);
      calls.push("hold");
    },
    lost: () => calls.push("lost"),
  };
  const logger = {
    debug: (line: string) => logged.push(`debug ${line}`),
    info: (line: string) => logged.push(`info ${line}`),
    warn: (line: string) => logged.push(`warn ${line}`),
    error: (line: string) => logged.push(`error ${line}`),
  };
  // Renewed every ~500 ms: a loaded machine's late timers do not lose it.
  const lock = new Redlock(clients, name, { leaseMs: 1_500, metrics, logger });
  const other = new Redlock(clients, name, { metrics });
  const events: string[] = [];
  for (
    const type of [
      "waiting",
      "acquired",
      "timeout",
      "released",
      "renewed",
      "lost",
    ] as const
  ) {
    for (const target of [lock, other]) {
      target.addEventListener(type, (event) => {
        assert.equal(event.lockName, name);
        events.push(`${target === lock ? "lock" : "other"}:${type}`);
      });
    }
  }
  let acquiredToken: number | undefined;
  let acquiredId: string | undefined;
  lock.addEventListener("acquired", (e) => {
    acquiredToken = e.token;
    acquiredId = e.id;
  }, { once: true });
  const lease = await lock.acquire(AbortSignal.timeout(2_000));
  assert.equal(acquiredToken, lease.token);
  // The lease's id: the holder's id on each server (inspect() per server).
  assert.equal(acquiredId, lease.id);
  assert.deepEqual(
    (await inspect(clients[0], name)).holders.map((h) => h.id),
    [lease.id],
  );
  assert.equal(await other.tryAcquire(), undefined);
  await assert.rejects(
    other.acquire(AbortSignal.timeout(300)),
    (error) => (error as Error).name === "TimeoutError",
  );
  await until("a renewal", () => events.includes("lock:renewed"), 20_000);
  await lease.release();
  assert.deepEqual(events.filter((e) => !e.endsWith(":renewed")), [
    "lock:acquired",
    "other:waiting",
    "other:timeout",
    "lock:released",
  ]);
  assert.deepEqual(calls, [
    "wait:acquired",
    "wait:unavailable",
    "wait:aborted",
    "hold",
  ]);
  // A lost lease: the entry gone on two servers of three.
  const again = await lock.acquire(AbortSignal.timeout(2_000));
  const holders = `redsync:{${name}}:holders`;
  await Promise.all([
    clients[0].send("DEL", holders),
    clients[1].send("DEL", holders),
  ]);
  await until("the lease lost", () => again.signal.aborted, 20_000);
  assert.ok(events.includes("lock:lost"));
  assert.deepEqual(calls.slice(-3), ["wait:acquired", "hold", "lost"]);
  assert.ok(
    logged.some((line) => line.startsWith(`error redsync: lost '${name}'`)),
    logged.join("\n"),
  );
  assert.ok(
    logged.some((line) => line.startsWith(`debug redsync: acquired '${name}'`)),
  );
});

test("redlock: a failed round releases only where an ACQUIRE was sent", async () => {
  await using nodes = await startServers();
  const [a, b] = await nodes.open();
  const [held0, held1] = await nodes.open();
  // Server 2's client counts the scripts written to it.
  let scripts = 0;
  const counting: Connector = async (options, handlers) => {
    const inner = await defaultConnector()(options, handlers);
    return {
      write(bytes) {
        const text = new TextDecoder().decode(bytes);
        scripts += text.match(/\r\nEVAL(SHA)?\r\n/gi)?.length ?? 0;
        inner.write(bytes);
      },
      close: () => inner.close(),
      destroy: () => (inner.destroy ?? inner.close).call(inner),
    };
  };
  await using c = await connect({
    url: nodes.servers[2].url,
    connector: counting,
    commandTimeoutMs: 30_000,
    reconnect: { minDelayMs: 10, maxDelayMs: 100 },
  });
  const name = unique("asked");
  // Servers 0 and 1 are held by Mutexes of the same name: every round fails.
  const partial = [
    await new Mutex(held0, name).acquire(),
    await new Mutex(held1, name).acquire(),
  ];
  // Server 2 is down, and its client knows it: it is never asked.
  await nodes.servers[2].kill();
  await until(
    "server 2's client is reconnecting",
    () => internalsOf(c).loadedScripts("k") === undefined,
  );
  const lock = new Redlock([a, b, c], name, {
    leaseMs: 5_000,
    retryDelayMs: 20,
  });
  const before = scripts;
  const error = await lock.acquire(AbortSignal.timeout(500)).catch((e) => e);
  assert.ok(isTimeout(error), String(error));
  assert.deepEqual(
    lock.lastOutcome?.map((o) => o.outcome),
    ["taken", "taken", "unreachable"],
  );
  // Back up: whatever was queued for it while it was down is written once
  // its client reconnects, before this PING.
  await nodes.servers[2].restart();
  assert.equal(await c.send("PING"), "PONG");
  assert.equal(scripts - before, 0, "releases sent to a server never asked");
  await Promise.all(partial.map((p) => p.release()));
});

test("redlock: closing its clients releases its leases and ends its acquires", async () => {
  await using nodes = await startServers();
  const clients = await nodes.open();
  const others = await nodes.open();
  const name = unique("close");
  const lock = new Redlock(clients, name, { leaseMs: 30_000 });
  const lease = await lock.acquire();
  const waiter = new Redlock(clients, name, { retryDelayMs: 20 });
  const waiting = waiter.acquire().then(
    () => assert.fail("acquired a held lock"),
    (e) => e,
  );
  await until("the waiter tried", () => waiter.lastOutcome !== undefined);
  await Promise.all(clients.map((client) => client.close()));
  assert.equal(lease.held, false);
  assert.equal(lease.signal.aborted, false); // released, not lost
  assert.ok(await waiting instanceof ConnectionError);
  // Free at once on every server, not after its lease.
  assert.deepEqual(await holdersOn(others, name), [[], [], []]);
  const next = await new Redlock(others, name).tryAcquire();
  assert.ok(next, "taken at once");
  await next.release();
  await assert.rejects(lock.acquire(), ConnectionError);
});

test("redlock: an acquire started while a client's close() runs is refused at once (a closed one counts as a failed server)", async () => {
  await using nodes = await startServers();
  const clients = await nodes.open();
  const others = await nodes.open();
  const name = unique("closing");
  const held = await new Redlock(clients, unique("held")).acquire();
  // close() begins (it has a lease to release first), then, in the same
  // tick, a new Redlock on another name asks through the same clients.
  const closing = clients[0].close();
  const late = new Redlock(clients, name).acquire(AbortSignal.timeout(5_000));
  const error = await late.catch((e) => e);
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(error.message, /is clos(ing|ed)/);
  await closing;
  assert.equal(held.held, false);
  await Promise.all(clients.map((client) => client.close()));
  assert.deepEqual(await holdersOn(others, name), [[], [], []]);
});

test("redlock: built and acquired with one of three servers down (lazy clients); back up, renewal and later acquires reach it", async () => {
  await using nodes = await startServers();
  await nodes.servers[2].kill();
  // With lazy clients, nothing throws while server 2 is down.
  const clients = await nodes.open({
    lazy: true,
    reconnect: { minDelayMs: 20, maxDelayMs: 200 },
  });
  assert.ok(clients.every((c) => !c.closed));
  const name = unique("lazy");
  const lock = new Redlock(clients, name, { leaseMs: 1_500 });
  const lease = await lock.acquire(AbortSignal.timeout(10_000));
  assert.ok(lease.held);
  assert.deepEqual(lock.lastOutcome?.map((o) => o.outcome), [
    "acquired",
    "acquired",
    "unreachable",
  ]);
  const down = lock.lastOutcome![2];
  assert.ok(down.error instanceof ConnectionError, String(down.error));
  assert.equal(lease.tokens[2], undefined);
  assert.deepEqual(await holdersOn(clients.slice(0, 2), name), [
    [lease.id],
    [lease.id],
  ]);
  // Server 2's client fails fast meanwhile: no wait for a reconnect.
  const error = await clients[2].send("PING").catch((e) => e);
  assert.ok(error instanceof ConnectionError, String(error));
  // A second Redlock is refused: held on 0 and 1, server 2 unreachable.
  const other = new Redlock(clients, name, { leaseMs: 1_500 });
  assert.equal(await other.tryAcquire(), undefined);
  assert.deepEqual(other.lastOutcome?.map((o) => o.outcome), [
    "taken",
    "taken",
    "unreachable",
  ]);

  // Back up: a renewal takes the lease on server 2 too.
  await nodes.servers[2].restart();
  await until("the lease renewed onto server 2", async () => {
    const held = await inspect(clients[2], name).catch(() => undefined);
    return held?.holders.some((h) => h.id === lease.id) ?? false;
  }, 15_000);
  assert.ok(lease.held);
  await lease.release();
  await until(
    "released everywhere",
    async () => (await holdersOn(clients, name)).every((h) => h.length === 0),
    5_000,
  );
  // A later acquire is granted by all three.
  const next = await lock.acquire(AbortSignal.timeout(10_000));
  assert.deepEqual(lock.lastOutcome?.map((o) => o.outcome), [
    "acquired",
    "acquired",
    "acquired",
  ]);
  assert.ok(next.tokens.every((t) => t !== undefined));
  assert.deepEqual(await holdersOn(clients, name), [
    [next.id],
    [next.id],
    [next.id],
  ]);
  await next.release();
});

test("redlock: tryAcquire at once on lazy clients, all servers up: first attempts under way are waited for within nodeTimeoutMs", async () => {
  await using nodes = await startServers();
  const clients = await nodes.open({ lazy: true });
  const name = unique("lazy-try");
  // A generous nodeTimeoutMs: a loaded machine may take a while to connect.
  const lock = new Redlock(clients, name, {
    leaseMs: 30_000,
    nodeTimeoutMs: 5_000,
  });
  const lease = await lock.tryAcquire();
  assert.ok(lease, JSON.stringify(lock.lastOutcome));
  assert.ok(lease.tokens.filter((t) => t !== undefined).length >= 2);
  await lease.release();
});
