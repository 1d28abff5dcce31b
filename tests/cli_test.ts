/**
 * End-to-end tests of the inspect CLI (`cli.ts`): each spawns the CLI as a
 * real process of this same runtime against a real redis-server, after
 * making state with the library under a prefix of its own.
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
  ReadWriteLock,
  type RedisClient,
  Semaphore,
} from "../mod.ts";
import { inspect, inspectEvent, listPrimitives } from "../src/admin.ts";
import { sharedRedisUrl, startRedis } from "../harness/server.ts";
import { scriptCommand } from "../harness/spawn.ts";
import { test } from "./_test.ts";

const url = sharedRedisUrl();
const cliFile = fileURLToPath(new URL("../cli.ts", import.meta.url));
/** Longest a CLI process may run before it is killed and the test fails. */
const RUN_LIMIT_MS = 30_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI in this runtime and waits for it to end (and its pipes to
 * close). `input`: text written to its stdin, then closed; `undefined`: no
 * stdin at all (`/dev/null`, not a terminal).
 */
function cli(args: string[], input?: string): Promise<Run> {
  const command = scriptCommand(cliFile, args);
  const child = spawn(command[0], command.slice(1), {
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk) => stdout += chunk);
  child.stderr!.on("data", (chunk) => stderr += chunk);
  if (input !== undefined) {
    child.stdin!.on("error", () => {}); // it may exit before reading
    child.stdin!.end(input);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not child.kill(): Deno's closes the pipes first.
      try {
        process.kill(child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, RUN_LIMIT_MS);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (signal !== null) {
        reject(
          new Error(
            `cli ${args.join(" ")} ended by ${signal}; stderr: ${stderr}`,
          ),
        );
      } else resolve({ code, stdout, stderr });
    });
  });
}

/** Rejects when `promise` has not settled within `ms`; leaves no timer. */
async function within<T>(promise: Promise<T>, ms: number, what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what}: not within ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function aborted(signal: AbortSignal): Promise<unknown> {
  return signal.aborted
    ? Promise.resolve(signal.reason)
    : new Promise((resolve) =>
      signal.addEventListener("abort", () => resolve(signal.reason), {
        once: true,
      })
    );
}

const LEASE_MS = 3_000;

interface State {
  redis: RedisClient;
  prefix: string;
  mutexLease: Lease;
  semLeases: Lease[];
  /** The semaphore's waiter: resolves with its lease once granted. */
  waiter: Promise<Lease>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A mutex "jobs" with a holder and a semaphore "pool" of 2 with two holders
 * and one waiter, under a fresh prefix. Disposal releases all of it.
 */
async function makeState(): Promise<State> {
  const prefix = `cli-${crypto.randomUUID()}`;
  const redis = await connect(url);
  const mutex = new Mutex(redis, "jobs", { prefix, leaseMs: LEASE_MS });
  const pool = await Semaphore.create(redis, "pool", {
    permits: 2,
    prefix,
    leaseMs: LEASE_MS,
  });
  const mutexLease = await mutex.acquire(AbortSignal.timeout(5_000));
  const semLeases = [
    await pool.acquire(AbortSignal.timeout(5_000)),
    await pool.acquire(AbortSignal.timeout(5_000)),
  ];
  const stopWaiting = new AbortController();
  const waiter = pool.acquire({
    signal: AbortSignal.any([stopWaiting.signal, AbortSignal.timeout(60_000)]),
  });
  waiter.catch(() => {});
  // Wait (bounded) until the waiter is queued.
  for (let i = 0; (await inspect(redis, "pool", { prefix })).waiters < 1; i++) {
    assert.ok(i < 100, "the waiter never queued");
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    redis,
    prefix,
    mutexLease,
    semLeases,
    waiter,
    async [Symbol.asyncDispose]() {
      stopWaiting.abort();
      const granted = await waiter.catch(() => undefined);
      await granted?.[Symbol.asyncDispose]();
      for (const lease of [mutexLease, ...semLeases]) {
        await lease[Symbol.asyncDispose]();
      }
      await mutex[Symbol.asyncDispose]();
      await pool[Symbol.asyncDispose]();
      await redis.close();
    },
  };
}

test("cli: list shows the primitives, as a table and as JSON", async () => {
  await using state = await makeState();
  const base = ["--url", url, "--prefix", state.prefix];

  const human = await cli(["list", ...base]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^NAME\s+KIND\s+KEYS$/m);
  assert.match(human.stdout, /^jobs\s+mutex\s+\S*holders/m);
  assert.match(human.stdout, /^pool\s+semaphore\s+\S*meta/m);
  assert.match(human.stdout, /2 primitives under prefix/);

  const details = await cli(["list", "--details", ...base]);
  assert.equal(details.code, 0, details.stderr);
  assert.match(details.stdout, /HOLDERS\s+WAITERS$/m);
  assert.match(details.stdout, /^jobs\s.*\s1\s+0$/m);
  assert.match(details.stdout, /^pool\s.*\s2\s+1$/m);

  const json = await cli(["list", "--json", "--details", ...base]);
  assert.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout);
  assert.equal(doc.prefix, state.prefix);
  const expected = await listPrimitives(state.redis, { prefix: state.prefix });
  assert.deepEqual(
    doc.primitives.map((
      p: { name: string; kinds: string[]; keys: string[] },
    ) => ({ name: p.name, kinds: p.kinds, keys: p.keys })),
    expected,
  );
  assert.deepEqual(
    doc.primitives.map((
      p: { name: string; kind: string; holders: number; waiters: number },
    ) => [p.name, p.kind, p.holders, p.waiters]),
    [["jobs", "mutex", 1, 0], ["pool", "semaphore", 2, 1]],
  );

  const empty = await cli([
    "list",
    "--url",
    url,
    "--prefix",
    `none-${crypto.randomUUID()}`,
  ]);
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(empty.stdout, /^No primitives under prefix/);
});

test("cli: info shows holders, tokens and waiters; --json matches inspect()", async () => {
  await using state = await makeState();
  const base = ["--url", url, "--prefix", state.prefix];

  const pool = await cli(["info", "pool", ...base]);
  assert.equal(pool.code, 0, pool.stderr);
  assert.match(pool.stdout, /^permits: +2 \(semaphore\), 2 in use$/m);
  assert.match(pool.stdout, /^holders: +2$/m);
  assert.match(pool.stdout, /^waiters: +1 live$/m);
  for (const lease of state.semLeases) {
    assert.match(
      pool.stdout,
      new RegExp(`^  ${lease.id} +${lease.token} +1 +\\d+ ms$`, "m"),
    );
  }

  const jobs = await cli(["info", "jobs", ...base]);
  assert.equal(jobs.code, 0, jobs.stderr);
  assert.match(jobs.stdout, /mutex \/ not a semaphore/);
  assert.ok(jobs.stdout.includes(state.mutexLease.id));
  assert.ok(jobs.stdout.includes(String(state.mutexLease.token)));

  for (const name of ["pool", "jobs"]) {
    const run = await cli(["info", name, "--json", ...base]);
    assert.equal(run.code, 0, run.stderr);
    const doc = JSON.parse(run.stdout);
    const info = await inspect(state.redis, name, { prefix: state.prefix });
    assert.equal(doc.name, name);
    assert.equal(doc.prefix, state.prefix);
    assert.equal(doc.permits, info.permits ?? null);
    assert.equal(doc.waiters, info.waiters);
    assert.equal(doc.queued, info.queued);
    // By id: a renewal between the two reads may reorder leases that
    // expire in the same millisecond.
    const pick = (holders: { id: string; token: number; permits: number }[]) =>
      holders.map(({ id, token, permits }) => ({ id, token, permits }))
        .sort((a, b) => a.id < b.id ? -1 : 1);
    assert.deepEqual(pick(doc.holders), pick(info.holders));
    assert.deepEqual(Object.keys(doc.keyTtls), Object.keys(info.keyTtls));
  }
  const held = JSON.parse(
    (await cli(["info", "jobs", "--json", ...base])).stdout,
  );
  assert.deepEqual(
    held.holders.map((h: { id: string; token: number }) => [h.id, h.token]),
    [[state.mutexLease.id, state.mutexLease.token]],
  );
});

test("cli: release asks for the name; a wrong answer or no answer frees nothing, the right one frees the lease", async () => {
  await using state = await makeState();
  const base = ["--url", url, "--prefix", state.prefix];
  const holders = async () =>
    (await inspect(state.redis, "jobs", { prefix: state.prefix })).holders;

  const wrong = await cli(["release", "jobs", ...base], "job\n");
  assert.equal(wrong.code, 1);
  assert.match(wrong.stdout, /Will force-release 1 lease of 'jobs'/);
  assert.ok(wrong.stdout.includes(state.mutexLease.id));
  assert.match(wrong.stdout, /Type the name to confirm: /);
  assert.match(wrong.stderr, /did not match 'jobs': nothing was released/);
  assert.equal((await holders()).length, 1);

  // No terminal and nothing on stdin: refused, exit 2.
  const none = await cli(["release", "jobs", ...base]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /stdin is not a terminal.*--yes/);
  assert.equal((await holders()).length, 1);
  assert.ok(state.mutexLease.held);

  const right = await cli(["release", "jobs", ...base], "jobs\n");
  assert.equal(right.code, 0, right.stderr);
  assert.match(
    right.stdout,
    new RegExp(`Released 1 lease of 'jobs': ${state.mutexLease.id}`),
  );
  assert.deepEqual(await holders(), []);
  // The holder learns it at its next renewal (about every LEASE_MS / 3).
  const reason = await within(
    aborted(state.mutexLease.signal),
    LEASE_MS + 2_000,
    "the holder's lease.signal",
  );
  assert.equal((reason as Error).name, "LockLostError");
});

test("cli: release --yes --id frees one lease and the waiter gets its permit; --json reports it", async () => {
  await using state = await makeState();
  const base = ["--url", url, "--prefix", state.prefix];
  const [first, second] = state.semLeases;

  const run = await cli([
    "release",
    "pool",
    "--id",
    first.id,
    "--yes",
    "--json",
    ...base,
  ]);
  assert.equal(run.code, 0, run.stderr);
  const doc = JSON.parse(run.stdout);
  assert.deepEqual(doc.freed, [first.id]);
  assert.match(run.stderr, /Will force-release 1 lease of 'pool'/);
  const granted = await within(state.waiter, 5_000, "the waiter's grant");
  assert.ok(granted.token > second.token);
  const info = await inspect(state.redis, "pool", { prefix: state.prefix });
  assert.deepEqual(
    info.holders.map((h) => h.id).sort(),
    [second.id, granted.id].sort(),
  );
  assert.ok(second.held);

  const unknownId = await cli([
    "release",
    "pool",
    "--id",
    "nope",
    "--yes",
    ...base,
  ]);
  assert.equal(unknownId.code, 1);
  assert.match(unknownId.stderr, /no live lease with id 'nope'/);
});

test("cli: errors: bad URL, server down, auth failure (no password echoed), unknown name, usage", async () => {
  const badUrl = await cli(["list", "--url", "http://u:sekret@127.0.0.1:6379"]);
  assert.equal(badUrl.code, 1);
  assert.match(badUrl.stderr, /must start with redis:\/\/ or rediss:\/\//);
  assert.ok(!(badUrl.stdout + badUrl.stderr).includes("sekret"));

  // Passwords redactUrl() would not fully hide: a raw "@" or "/" in them.
  for (const bad of ["http://u:se@kret@127.0.0.1", "redis://u:se/kret@h:1"]) {
    const run = await cli(["list", "--url", bad]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: Cannot connect as 'url'/);
    assert.ok(!(run.stdout + run.stderr).includes("kret"), run.stderr);
  }

  const down = await cli([
    "info",
    "x",
    "--url",
    "redis://u:sekret@127.0.0.1:1",
  ]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /Cannot connect to redis:\/\/127\.0\.0\.1:1/);
  assert.ok(!(down.stdout + down.stderr).includes("sekret"));

  await using server = await startRedis({ password: "pw" });
  const port = new URL(server.url).port;
  const auth = await cli([
    "list",
    "--url",
    `redis://:sekret@127.0.0.1:${port}`,
  ]);
  assert.equal(auth.code, 1);
  assert.match(auth.stderr, /WRONGPASS/);
  assert.ok(!(auth.stdout + auth.stderr).includes("sekret"));
  const noAuth = await cli(["list", "--url", server.url]);
  assert.equal(noAuth.code, 1);
  assert.match(noAuth.stderr, /requires a password/);
  const ok = await cli(["list", "--url", `redis://:pw@127.0.0.1:${port}`]);
  assert.equal(ok.code, 0, ok.stderr);

  const prefix = `cli-${crypto.randomUUID()}`;
  for (const command of ["info", "release"]) {
    const yes = command === "release" ? ["--yes"] : [];
    const unknown = await cli([
      command,
      "nosuch",
      ...yes,
      "--url",
      url,
      "--prefix",
      prefix,
    ]);
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.stderr,
      new RegExp(`No primitive named 'nosuch' under prefix '${prefix}'`),
    );
  }

  const unknownCommand = await cli(["frobnicate", "--url", url]);
  assert.equal(unknownCommand.code, 2);
  assert.match(unknownCommand.stderr, /unknown command "frobnicate"/);
  assert.match(unknownCommand.stderr, /Usage: redsync <command>/);
  const missing = await cli(["info", "--url", url]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /'info' needs the name of a primitive/);
  const help = await cli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: redsync <command>/);
  assert.match(help.stdout, /redis\+cluster:\/\//);
});

test("cli: a name that starts with } is listed, inspected and released by its name", async () => {
  const prefix = `cli-${crypto.randomUUID()}`;
  await using redis = await connect(url);
  const name = "}odd{name";
  await using mutex = new Mutex(redis, name, { prefix, leaseMs: LEASE_MS });
  await using lease = await mutex.acquire(AbortSignal.timeout(5_000));
  const base = ["--url", url, "--prefix", prefix];
  const listed = await cli(["list", "--json", ...base]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(
    JSON.parse(listed.stdout).primitives.map((p: { name: string }) => p.name),
    [name],
  );
  const info = await cli(["info", name, "--json", ...base]);
  assert.equal(info.code, 0, info.stderr);
  assert.deepEqual(
    JSON.parse(info.stdout).holders.map((h: { id: string }) => h.id),
    [lease.id],
  );
  const release = await cli(["release", name, "--yes", ...base]);
  assert.equal(release.code, 0, release.stderr);
  assert.match(release.stdout, /Released 1 lease of '\}odd\{name'/);
  assert.deepEqual((await inspect(redis, name, { prefix })).holders, []);
});

test("cli: main() in-process, with a terminal that types the name", async () => {
  await using state = await makeState();
  let out = "";
  let err = "";
  const io = {
    stdout: { write: (text: string) => out += text },
    stderr: { write: (text: string) => err += text },
    env: { REDIS_URL: url },
  };
  assert.equal(await main(["list", "--json", "--prefix", state.prefix], io), 0);
  assert.deepEqual(
    JSON.parse(out).primitives.map((p: { name: string }) => p.name),
    ["jobs", "pool"],
  );

  out = "";
  const typed = {
    isTTY: true,
    async *[Symbol.asyncIterator]() {
      yield new TextEncoder().encode("jo");
      yield "bs\nmore\n";
    },
  };
  const code = await main(
    ["release", "jobs", "--prefix", state.prefix],
    { ...io, stdin: typed },
  );
  assert.equal(code, 0, err);
  assert.match(out, /Type the name to confirm: Released 1 lease/);
  const info = await inspect(state.redis, "jobs", { prefix: state.prefix });
  assert.deepEqual(info.holders, []);

  err = "";
  assert.equal(
    await main(["release", "pool", "--prefix", state.prefix], io),
    2,
  );
  assert.match(err, /pass --yes/);
  assert.equal(
    (await inspect(state.redis, "pool", { prefix: state.prefix })).holders
      .length,
    2,
  );
});

/** One primitive of every kind under a fresh prefix, and state of an older version. */
async function makeKinds(redis: RedisClient) {
  const prefix = `cli-${crypto.randomUUID()}`;
  const options = { prefix, leaseMs: LEASE_MS };
  const mutex = new Mutex(redis, "m", options);
  const sem = await Semaphore.create(redis, "s", { ...options, permits: 3 });
  // As many permits as a read-write lock: only the recorded kind tells.
  const wide = await Semaphore.create(redis, "s-max", {
    ...options,
    permits: 100_000,
  });
  const rw = new ReadWriteLock(redis, "rw", options);
  // Its meta gone (deleted, or expired while idle): ACQUIRE writes it
  // again, with its kind.
  await redis.send("DEL", `${prefix}:{s-max}:meta`);
  const leases = [
    await mutex.acquire(AbortSignal.timeout(5_000)),
    await sem.acquire(AbortSignal.timeout(5_000)),
    await wide.acquire(AbortSignal.timeout(5_000)),
    await rw.read(AbortSignal.timeout(5_000)),
  ];
  assert.equal(
    await redis.send("HGET", `${prefix}:{s-max}:meta`, "kind"),
    "semaphore",
  );
  const waiting = new ManualResetEvent(redis, "mre", { prefix });
  const stopWaiting = new AbortController();
  const waiter = waiting.wait(stopWaiting.signal);
  waiter.catch(() => {});
  await new ManualResetEvent(redis, "mre-set", { prefix }).set();
  const auto = new AutoResetEvent(redis, "are", { prefix });
  await auto.set();
  await auto.set();
  // A semaphore and a read-write lock written by an older version: a
  // permit count and no kind.
  await redis.send("HSET", `${prefix}:{old-rw}:meta`, "permits", 100_000);
  await redis.send("HSET", `${prefix}:{old-sem}:meta`, "permits", 5);
  for (let i = 0; (await waiting.info()).waiters < 1; i++) {
    assert.ok(i < 100, "the event's waiter never registered");
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    prefix,
    [Symbol.asyncDispose]: async () => {
      stopWaiting.abort();
      await waiter.catch(() => {});
      for (const lease of leases) await lease[Symbol.asyncDispose]();
      for (const p of [mutex, sem, wide, rw]) await p[Symbol.asyncDispose]();
    },
  };
}

const KINDS: [string, string][] = [
  ["are", "auto-reset-event"],
  ["m", "mutex"],
  ["mre", "manual-reset-event"],
  ["mre-set", "manual-reset-event"],
  ["old-rw", "read-write-lock"],
  ["old-sem", "semaphore"],
  ["rw", "read-write-lock"],
  ["s", "semaphore"],
  ["s-max", "semaphore"],
];

test("cli: list names each primitive's kind (mutex, semaphore, read-write lock, both events); older state is inferred", async () => {
  await using redis = await connect(url);
  await using state = await makeKinds(redis);
  const { prefix } = state;
  const found = await listPrimitives(redis, { prefix });
  assert.deepEqual(
    found.map((p) => [p.name, p.kinds]),
    KINDS.map(([n, k]) => [n, [k]]),
  );
  for (const [name, kind] of KINDS) {
    if (kind.endsWith("-event")) continue;
    assert.equal((await inspect(redis, name, { prefix })).kind, kind, name);
  }
  for (const [name, kind] of KINDS) {
    if (!kind.endsWith("-event")) continue;
    const event = await inspectEvent(redis, name, kind as "auto-reset-event", {
      prefix,
    });
    assert.equal(event.kind, kind, name);
  }

  const base = ["--url", url, "--prefix", prefix];
  const human = await cli(["list", "--details", ...base]);
  assert.equal(human.code, 0, human.stderr);
  for (const [name, kind] of KINDS) {
    assert.match(human.stdout, new RegExp(`^${name}\\s+${kind}\\s`, "m"));
  }
  assert.match(human.stdout, /^mre\s.*\s-\s+1$/m); // no holders, one waiter
  assert.match(human.stdout, /^rw\s.*\s1\s+0$/m);
  const json = await cli(["list", "--json", "--details", ...base]);
  assert.equal(json.code, 0, json.stderr);
  const rows = JSON.parse(json.stdout).primitives as {
    name: string;
    kind: string;
    kinds: string[];
    holders: number | null;
    waiters: number;
  }[];
  assert.deepEqual(rows.map((p) => [p.name, p.kind]), KINDS);
  assert.deepEqual(rows.map((p) => p.kinds), KINDS.map(([, k]) => [k]));
  const mre = rows.find((p) => p.name === "mre")!;
  assert.deepEqual([mre.holders, mre.waiters], [null, 1]);
});

test("cli: info works for every kind it lists, as text and JSON", async () => {
  await using redis = await connect(url);
  await using state = await makeKinds(redis);
  const base = ["--url", url, "--prefix", state.prefix];
  for (const [name, kind] of KINDS) {
    const text = await cli(["info", name, ...base]);
    assert.equal(text.code, 0, `${name}: ${text.stderr}`);
    assert.match(
      text.stdout,
      new RegExp(`^kind: +${kind.replace(/-/g, "[- ]")}$`, "m"),
    );
    const json = await cli(["info", name, "--json", ...base]);
    assert.equal(json.code, 0, `${name}: ${json.stderr}`);
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.kind, kind, name);
    assert.equal(doc.name, name);
  }
  const mre = await cli(["info", "mre", ...base]);
  assert.match(mre.stdout, /^set: +no$/m);
  assert.match(mre.stdout, /^waiters: +1 live$/m);
  const set = JSON.parse(
    (await cli(["info", "mre-set", "--json", ...base])).stdout,
  );
  assert.equal(set.isSet, true);
  assert.equal(set.waiters, 0);
  assert.ok(set.keyTtls.state > 0);
  const are = await cli(["info", "are", ...base]);
  assert.match(are.stdout, /^pending: +2 signals$/m);
  const areJson = JSON.parse(
    (await cli(["info", "are", "--json", ...base])).stdout,
  );
  assert.deepEqual([areJson.pending, areJson.waiters, areJson.granted], [
    2,
    0,
    0,
  ]);
  const rw = await cli(["info", "rw", ...base]);
  assert.match(rw.stdout, /^permits: +100000 \(read-write lock\), 1 in use$/m);

  // Only locks have leases to release.
  const release = await cli(["release", "mre-set", "--yes", ...base]);
  assert.equal(release.code, 1);
  assert.match(release.stderr, /'mre-set' is a manual-reset event/);
  assert.equal(
    await new ManualResetEvent(redis, "mre-set", { prefix: state.prefix })
      .isSet(),
    true,
  );
});

test("cli: with --json, errors are one JSON document on stdout, with the same exit codes", async () => {
  const parse = (run: Run) => {
    assert.equal(run.stderr, "");
    const doc = JSON.parse(run.stdout);
    assert.deepEqual(Object.keys(doc), ["error"]);
    assert.equal(typeof doc.error.name, "string");
    assert.equal(typeof doc.error.message, "string");
    return doc.error as { name: string; message: string };
  };
  const usage = await cli(["frobnicate", "--json", "--url", url]);
  assert.equal(usage.code, 2);
  const usageError = parse(usage);
  assert.equal(usageError.name, "UsageError");
  assert.match(usageError.message, /unknown command "frobnicate"/);
  const missing = await cli(["info", "--json"]);
  assert.equal(missing.code, 2);
  assert.match(parse(missing).message, /'info' needs the name/);

  const down = await cli([
    "list",
    "--json",
    "--url",
    "redis://u:sekret@127.0.0.1:1",
  ]);
  assert.equal(down.code, 1);
  const downError = parse(down);
  assert.equal(downError.name, "ConnectionError");
  assert.match(downError.message, /Cannot connect to redis:\/\/127\.0\.0\.1:1/);
  assert.ok(!down.stdout.includes("sekret"));
  const badUrl = await cli([
    "list",
    "--json",
    "--url",
    "http://u:sekret@127.0.0.1:6379",
  ]);
  assert.equal(badUrl.code, 1);
  assert.match(parse(badUrl).message, /must start with redis:\/\//);
  assert.ok(!badUrl.stdout.includes("sekret"));

  const prefix = `cli-${crypto.randomUUID()}`;
  const unknown = await cli([
    "info",
    "nosuch",
    "--json",
    "--url",
    url,
    "--prefix",
    prefix,
  ]);
  assert.equal(unknown.code, 1);
  const unknownError = parse(unknown);
  assert.equal(unknownError.name, "NotFoundError");
  assert.match(unknownError.message, /No primitive named 'nosuch'/);

  // release: its questions stay on stderr, the error is on stdout.
  await using redis = await connect(url);
  await using mutex = new Mutex(redis, "held", { prefix, leaseMs: LEASE_MS });
  await using _lease = await mutex.acquire(AbortSignal.timeout(5_000));
  const noStdin = await cli([
    "release",
    "held",
    "--json",
    "--url",
    url,
    "--prefix",
    prefix,
  ]);
  assert.equal(noStdin.code, 2);
  assert.match(noStdin.stderr, /Will force-release 1 lease of 'held'/);
  const confirmError = JSON.parse(noStdin.stdout).error;
  assert.equal(confirmError.name, "ConfirmationError");
  assert.match(confirmError.message, /--yes/);
  const noId = await cli([
    "release",
    "held",
    "--id",
    "x",
    "--yes",
    "--json",
    "--url",
    url,
    "--prefix",
    prefix,
  ]);
  assert.equal(noId.code, 1);
  assert.equal(parse(noId).name, "NotFoundError");
});
