/**
 * The operator tools on a Redis Cluster: `listPrimitives` scans every
 * primary, `inspect`, `contended` and `forceRelease` route by key, and the
 * CLI takes `redis+cluster://` URLs. And the key layout of names that start
 * with `}` (whose `{name}` hash tag would be empty): every key of one
 * primitive in one slot, no key shared with another name, names read back.
 *
 * @module
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { main } from "../cli.ts";
import {
  AutoResetEvent,
  connect,
  type Lease,
  ManualResetEvent,
  Mutex,
  Semaphore,
} from "../mod.ts";
import {
  contended,
  forceRelease,
  inspect,
  listPrimitives,
} from "../src/admin.ts";
import { keySlot } from "../src/topologies/cluster/slot.ts";
import { resolveEventOptions } from "../src/events/options.ts";
import { keyBase, keysOf, parseKey, SCRIPT_KEYS } from "../src/locks/keys.ts";
import { startCluster } from "../harness/cluster.ts";
import { scriptCommand } from "../harness/spawn.ts";
import { test } from "./_test.ts";

const cliFile = fileURLToPath(new URL("../cli.ts", import.meta.url));

/** Every suffix the library puts after `base:` (and an old `grant:` list). */
const SUFFIXES = [
  ...SCRIPT_KEYS,
  "state",
  "listeners",
  "woken",
  "signals",
  "takers",
  "heartbeats",
  "granted",
  "wake:0a1b2c3d4e5f6g7h", // a one-server client's hub
  "wake:~0a1b2c3d4e5f6g7h", // a cluster client's hub
  "grant:0a1b2c3d4e5f6g7h.3",
];

/** The keys of `name` as the library builds them, with their suffixes. */
function keysOfName(prefix: string, name: string): [string, string][] {
  const lock = keysOf(prefix, name);
  const base = resolveEventOptions("test", name, { prefix }).base;
  assert.equal(base, lock.base);
  assert.deepEqual(lock.script, SCRIPT_KEYS.map((s) => `${base}:${s}`));
  assert.equal(lock.wakePrefix, `${base}:wake:`);
  return SUFFIXES.map((suffix) => [`${base}:${suffix}`, suffix]);
}

test("keys: names that start with } keep one slot per primitive; no two names share a key; names read back", () => {
  // The layout of every other name is the first one, unchanged.
  assert.equal(keyBase("redsync", "jobs"), "redsync:{jobs}");
  assert.equal(keyBase("redsync", "a}b"), "redsync:{a}b}");
  assert.equal(keyBase("", "~}x~"), "{~}x~}");
  assert.equal(keyBase("redsync", "}odd{name"), "redsync:{~}}odd{name~");
  assert.equal(keyBase("", "}"), "{~}}~");
  // What the first layout did to such a name: a slot per key (CROSSSLOT).
  const old = SCRIPT_KEYS.map((s) => `redsync:{}odd{name}:${s}`);
  assert.ok(new Set(old.map(keySlot)).size > 1);

  const names = [
    "jobs",
    "a}b",
    "x}:holders",
    "~",
    "~}",
    "~}}",
    "~}x~",
    "~}}x~",
    "{}",
    "}",
    "}}",
    "}~",
    "}odd{name",
    "}x~",
    "}x~:holders",
    "}:wake:x",
    "}~:wake:~ab",
    "}{~}",
    "ünï}cödé",
    "}ünï🔒",
  ];
  // And names made of the characters that matter, at random (seeded).
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const alphabet = ["}", "{", "~", ":", "w", "ake", "holders", "~:", "}:"];
  for (let i = 0; i < 3_000; i++) {
    let name = "";
    const length = 1 + Math.floor(random() * 6);
    for (let j = 0; j < length; j++) {
      name += alphabet[Math.floor(random() * alphabet.length)];
    }
    names.push(name);
  }
  for (const prefix of ["redsync", "", "p{x", "a:{b}"]) {
    const owner = new Map<string, string>();
    for (const name of new Set(names)) {
      const keys = keysOfName(prefix, name);
      if (!prefix.includes("{")) {
        // Every key of one primitive in one slot (and `}` names in `~`'s).
        const slots = new Set(keys.map(([key]) => keySlot(key)));
        assert.equal(slots.size, 1, `${prefix} ${name}`);
        if (name.startsWith("}")) assert.deepEqual([...slots], [keySlot("~")]);
      }
      for (const [key, suffix] of keys) {
        // No key of two names (or of two suffixes of one name).
        const seen = owner.get(key);
        assert.equal(seen, undefined, `${key}: ${seen} and ${name}`);
        owner.set(key, name);
        assert.deepEqual(parseKey(prefix, key), { name, suffix });
      }
    }
  }
  // Not keys of a primitive under the prefix.
  assert.equal(parseKey("redsync", "redsync:contended"), undefined);
  assert.equal(parseKey("redsync", "other:{x}:holders"), undefined);
  assert.equal(parseKey("redsync", "redsync:{x}:Holders"), undefined);
  assert.equal(parseKey("redsync", "redsync:{x}"), undefined);
  assert.equal(parseKey("redsync", "redsync:{~}}x:holders"), undefined);
  // A `}` name's key in the first layout: no longer where its keys are.
  assert.equal(parseKey("redsync", "redsync:{}x}:holders"), undefined);
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a process of this runtime (as tests/cli_test.ts does). */
function cli(args: string[]): Promise<Run> {
  const command = scriptCommand(cliFile, args);
  const child = spawn(command[0], command.slice(1), {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk) => stdout += chunk);
  child.stderr!.on("data", (chunk) => stderr += chunk);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        process.kill(child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, 30_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Polls `check` every 20 ms until true; fails after `ms`. */
async function until(check: () => Promise<boolean>, ms: number, what: string) {
  const deadline = performance.now() + ms;
  while (!await check()) {
    assert.ok(performance.now() < deadline, `${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test(
  "cluster tools: listPrimitives scans every primary; inspect, contended, forceRelease and the CLI work; } names work",
  async () => {
    await using cluster = await startCluster();
    await using redis = await connect(cluster.url);
    const prefix = `tools-${crypto.randomUUID()}`;
    const leaseMs = 10_000;

    // 30 primitives: 15 mutexes held, 15 semaphores of 2 with one holder.
    const mutexNames = Array.from({ length: 15 }, (_, i) => `m:${i}`);
    const semNames = Array.from({ length: 15 }, (_, i) => `s:${i}`);
    const names = [...mutexNames, ...semNames].sort();
    const owners = new Set(
      await Promise.all(
        names.map(async (name) =>
          cluster.ownerOf(await cluster.keySlot(keysOf(prefix, name).meta))
        ),
      ),
    );
    assert.equal(owners.size, 3, "primitives on every primary");
    const mutexes = mutexNames.map((name) =>
      new Mutex(redis, name, { prefix, leaseMs })
    );
    const semaphores = await Promise.all(
      semNames.map((name) =>
        Semaphore.create(redis, name, { prefix, leaseMs, permits: 2 })
      ),
    );
    const leases: Lease[] = await Promise.all([
      ...mutexes.map((m) => m.acquire(AbortSignal.timeout(10_000))),
      ...semaphores.map((s) => s.acquire(AbortSignal.timeout(10_000))),
    ]);
    // A waiter on m:0, for contended().
    const stopWaiting = new AbortController();
    const waiting = mutexes[0].acquire(stopWaiting.signal);
    waiting.catch(() => {});
    try {
      const found = await listPrimitives(redis, { prefix });
      assert.deepEqual(found.map((p) => p.name), names);
      for (const p of found) {
        assert.ok(p.keys.includes("holders"), `${p.name}: ${p.keys}`);
        assert.equal(p.keys.includes("meta"), p.name.startsWith("s:"));
      }
      const some = await listPrimitives(redis, { prefix, limit: 7 });
      assert.equal(some.length, 7);
      assert.ok(some.every((p) => names.includes(p.name)));

      const infos = await Promise.all(
        names.map((name) => inspect(redis, name, { prefix })),
      );
      for (const [i, info] of infos.entries()) {
        assert.equal(info.name, names[i]);
        assert.equal(info.holders.length, 1, info.name);
        assert.equal(info.permits, info.name.startsWith("s:") ? 2 : undefined);
      }
      await until(
        async () => (await contended(redis, { prefix })).includes("m:0"),
        5_000,
        "m:0 listed as contended",
      );
      assert.equal((await inspect(redis, "m:0", { prefix })).waiters, 1);

      // The CLI, as a process: list over every primary.
      const base = ["--url", cluster.url, "--prefix", prefix];
      const listed = await cli(["list", "--json", "--details", ...base]);
      assert.equal(listed.code, 0, listed.stderr);
      const doc = JSON.parse(listed.stdout);
      assert.equal(doc.url, redis.url);
      assert.deepEqual(
        doc.primitives.map((p: { name: string }) => p.name),
        names,
      );
      for (const p of doc.primitives) {
        assert.equal(p.holders, 1, p.name);
        assert.equal(
          p.kind,
          p.name.startsWith("s:") ? "semaphore" : "mutex",
        );
      }
      // In-process: info and release (routed by the name's key).
      let out = "";
      let err = "";
      const io = {
        stdout: { write: (text: string) => out += text },
        stderr: { write: (text: string) => err += text },
        env: { REDIS_URL: cluster.url },
      };
      assert.equal(await main(["info", "s:3", "--prefix", prefix], io), 0, err);
      assert.match(out, /^permits: +2 \(semaphore\), 1 in use$/m);
      assert.ok(out.includes(leases[mutexNames.length + 3].id));
      out = "";
      assert.equal(
        await main(["release", "m:5", "--yes", "--prefix", prefix], io),
        0,
        err,
      );
      assert.match(
        out,
        new RegExp(`Released 1 lease of 'm:5': ${leases[5].id}`),
      );
      assert.deepEqual((await inspect(redis, "m:5", { prefix })).holders, []);
      // forceRelease hands m:0 to its waiter.
      assert.deepEqual(await forceRelease(redis, "m:0", { prefix }), [
        leases[0].id,
      ]);
      const handed = await waiting;
      assert.ok(handed.token > leases[0].token);
      leases.push(handed);
    } finally {
      stopWaiting.abort();
      // Disposal, unlike release(), does not throw for a lease lost.
      await Promise.all(leases.map((lease) => lease[Symbol.asyncDispose]()));
      for (const primitive of [...mutexes, ...semaphores]) {
        await primitive[Symbol.asyncDispose]();
      }
    }

    // Names that start with `}`: every key in the slot of `~`, on one
    // primary; scripts would fail with CROSSSLOT otherwise.
    const odd = "}odd{name";
    const oddPrefix = (kind: string) => `${prefix}-${kind}`;
    const mutex = new Mutex(redis, odd, { prefix: oddPrefix("m"), leaseMs });
    const first = await mutex.acquire(AbortSignal.timeout(5_000));
    const second = mutex.acquire(AbortSignal.timeout(10_000));
    await until(
      async () => (await mutex.info()).waiters === 1,
      5_000,
      "the } mutex's waiter queued",
    );
    await first.release();
    const next = await second; // handed over through the wake channel
    assert.ok(next.token > first.token);
    const listedMutex = await listPrimitives(redis, {
      prefix: oddPrefix("m"),
    });
    assert.deepEqual(listedMutex.map((p) => p.name), [odd]);
    assert.ok(listedMutex[0].keys.includes("holders"));
    const info = await inspect(redis, odd, { prefix: oddPrefix("m") });
    assert.deepEqual(info.holders.map((h) => h.id), [next.id]);
    await next.release();

    const semaphore = await Semaphore.create(redis, odd, {
      prefix: oddPrefix("s"),
      permits: 2,
      leaseMs,
    });
    const held = [
      await semaphore.acquire(AbortSignal.timeout(5_000)),
      await semaphore.acquire(AbortSignal.timeout(5_000)),
    ];
    const third = semaphore.acquire(AbortSignal.timeout(10_000));
    await new Promise((r) => setTimeout(r, 50));
    await held[0].release();
    held.push(await third);
    const listedOdd = await listPrimitives(redis, { prefix: oddPrefix("s") });
    assert.deepEqual(listedOdd.map((p) => p.name), [odd]);
    assert.ok(listedOdd[0].keys.includes("meta"));
    assert.equal(
      (await inspect(redis, odd, { prefix: oddPrefix("s") })).holders.length,
      2,
    );
    await Promise.all(held.map((lease) => lease.release()));

    const event = new ManualResetEvent(redis, odd, { prefix: oddPrefix("e") });
    const waited = event.wait(AbortSignal.timeout(10_000));
    await new Promise((r) => setTimeout(r, 50));
    await new ManualResetEvent(redis, odd, { prefix: oddPrefix("e") }).set();
    await waited;
    assert.equal(await event.isSet(), true);
    const auto = new AutoResetEvent(redis, odd, { prefix: oddPrefix("a") });
    const taken = auto.wait(AbortSignal.timeout(10_000));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await auto.set(), true);
    await taken;
    assert.deepEqual(
      (await listPrimitives(redis, { prefix: oddPrefix("e") })).map((p) =>
        p.name
      ),
      [odd],
    );
    // All of them on the owner of `~`'s slot, under the new layout.
    const tilde = await cluster.ownerOf(await cluster.keySlot("~"));
    for (const kind of ["m", "s", "e"]) {
      const keys = (await cluster.cli(
        tilde,
        "--scan",
        "--pattern",
        `${oddPrefix(kind)}:{*`,
      )).split("\n").filter((k) => k !== "");
      assert.ok(keys.length > 0, kind);
      for (const key of keys) {
        assert.ok(key.startsWith(`${oddPrefix(kind)}:{~}}odd{name~:`), key);
      }
    }
    await mutex[Symbol.asyncDispose]();
    await semaphore[Symbol.asyncDispose]();

    // Aborted, or on a closed client: rejected, not an empty list.
    await assert.rejects(
      listPrimitives(redis, { prefix, signal: AbortSignal.abort() }),
      { name: "AbortError" },
    );
    const closed = await connect(cluster.url);
    await closed.close();
    await assert.rejects(listPrimitives(closed, { prefix }), /is closed/);
  },
  { timeoutMs: 90_000 },
);
