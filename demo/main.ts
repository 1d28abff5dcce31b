/**
 * `deno task demo`: six worker processes (`worker.ts`) share a semaphore of
 * three permits on Redis. They start together, released by one `set()` of a
 * manual-reset event, and pass a baton (an auto-reset event: each `set()`
 * lets exactly one `wait()` through) to two taker workers. Shows live who
 * holds a permit, the hand-off rate, and what Redis says about the waiting
 * (`contended()`, `inspect()`); SIGKILLs a holder midway, whose permit comes
 * back when its lease ends; and checks from outside, in Redis, that no more
 * than three workers ever worked at once, that fencing tokens only grew and
 * that every baton set was taken once or is still pending. Exits non-zero
 * when a check fails.
 *
 * With `REDIS_URL` unset it starts a private redis-server, stopped at the end.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  AutoResetEvent,
  connect,
  type LockInfo,
  ManualResetEvent,
  Script,
  Semaphore,
} from "../mod.ts";
import { contended, inspect } from "../src/admin.ts";
import { startRedis } from "../harness/server.ts";
import {
  eventNames,
  LEASE_MS,
  oracleKeys,
  PERMITS,
  sleep,
  TAKERS,
  type WorkerEvent,
} from "./shared.ts";

const WORKERS = 6, RUN_MS = 8_000, KILL_AT_MS = 3_000, GRACE_MS = 2_000;
const WORKER = fileURLToPath(new URL("worker.ts", import.meta.url));
/** Writes off a dead holder: out of the holders, one more epoch. */
const FORGET = new Script(
  `redis.call("SREM", KEYS[1], ARGV[1]) return redis.call("INCR", KEYS[2])`,
  { keys: 2, name: "demo-forget" },
);

type State = "starting" | "ready" | "waiting" | "holding" | "idle" | "killed";
interface Worker {
  id: number;
  pid: number;
  state: State;
  token: number;
  /** Takes batons (and is never the SIGKILL victim). */
  taker: boolean;
  /** Batons taken. */
  takes: number;
  /** Settles once the process is gone. */
  exit: Promise<void>;
  /** It exited with code 0. */
  clean: boolean;
}

const interrupted = new AbortController();
Deno.addSignalListener("SIGINT", () => interrupted.abort());
const given = Deno.env.get("REDIS_URL");
const server = given ? undefined : await startRedis();
let code = 1;
try {
  code = await demo(server?.url ?? given ?? "");
} catch (error) {
  console.error(error);
} finally {
  await server?.stop();
}
Deno.exit(interrupted.signal.aborted ? 130 : code);

async function demo(url: string): Promise<number> {
  await using redis = await connect(url);
  const name = `demo-${Date.now().toString(36)}`;
  const keys = oracleKeys(name);
  const events = eventNames(name);
  const startGun = new ManualResetEvent(redis, events.start);
  const baton = new AutoResetEvent(redis, events.baton);
  await using semaphore = await Semaphore.create(redis, name, {
    permits: PERMITS,
    leaseMs: LEASE_MS,
    idleTtlMs: 60_000,
  });
  console.log(
    `semaphore '${name}' on ${redis.url}: ${PERMITS} permits, ${LEASE_MS} ms leases, ${WORKERS} worker processes`,
  );
  const tty = Deno.stdout.isTerminal();
  const start = performance.now();
  const now = () => performance.now() - start;
  const acquiredAt: number[] = [];
  let maxHolders = 0, tokensOk = true, lost = 0, drawn = 0;
  let victim: Worker | undefined, killedAt = 0, recoveredAt = NaN;
  const waits: number[] = [];
  // The start event: workers ready, through it, woken by the one set().
  let ready = 0, started = 0, woken = NaN;
  // The baton: set() calls that queued a signal, or were refused (full).
  let batonSets = 0, batonRefused = 0;
  // What Redis says, read each tick by this process.
  let redisLine = "redis says: (not read yet)", peakLine = "";
  let maxWaiters = -1, maxRedisHolders = 0, sawContended = false, pending = 0;

  // Live status: redrawn in place on a terminal, a line each time otherwise.
  const color: Record<State, number> = {
    holding: 32,
    waiting: 33,
    killed: 31,
    starting: 2,
    ready: 36,
    idle: 2,
  };
  const owner = (token: number) => {
    const w = workers.find((w) => w.token === token);
    return w ? `w${w.id}${w.state === "killed" ? "†" : ""}` : "?";
  };
  /** Reads the waiting statistics from Redis: one status line. */
  const readRedis = async () => {
    const [names, info, queued] = await Promise.all([
      contended(redis),
      inspect(redis, name),
      baton.pending(),
    ]);
    pending = queued;
    const says = redisSays(names, info, owner);
    sawContended ||= names.includes(name);
    maxRedisHolders = Math.max(maxRedisHolders, info.holders.length);
    if (info.waiters >= maxWaiters) { // the latest snapshot at the most
      maxWaiters = info.waiters;
      peakLine = says;
    }
    redisLine = says;
  };
  const takes = () => workers.reduce((sum, w) => sum + w.takes, 0);
  let tick = 0;
  const status = (): string[] => {
    const holding = workers.filter((w) => w.state === "holding");
    const line = `${(now() / 1000).toFixed(2)} s  holding [${
      holding.map((w) => `w${w.id}`).join(" ")
    }]  waiting ${workers.filter((w) => w.state === "waiting").length}  ${
      acquiredAt.filter((at) => at > now() - 1_000).length
    } hand-offs/s  ${acquiredAt.length} acquisitions  max holders seen ${maxHolders}/${PERMITS}`;
    const batonLine = `baton: ${batonSets} set, ${takes()} taken (${
      workers.filter((w) => w.taker).map((w) => `w${w.id} ${w.takes}`).join(
        ", ",
      )
    }), ${pending} pending in Redis`;
    const cell = (w: Worker) =>
      w.state === "holding" ? `#…${String(w.token).slice(-5)}` : w.state;
    return tty
      ? [
        workers.map((w) =>
          `\x1b[${color[w.state]}mw${w.id} ${cell(w).padEnd(8)}\x1b[0m`
        ).join(" "),
        line,
        redisLine,
        batonLine,
      ]
      : tick++ % 4 === 0 // what Redis says once a second in a log
      ? [line, `        ${redisLine}  ${batonLine}`]
      : [line];
  };
  const erase = () => {
    const up = new TextEncoder().encode(`\x1b[${drawn}A\x1b[J`);
    if (drawn > 0) Deno.stdout.writeSync(up);
    drawn = 0;
  };
  const draw = () => {
    erase();
    // On a terminal, a line cut to its width, so that the redraw erases it.
    const columns = tty ? Deno.consoleSize().columns : Infinity;
    const lines = status().map((line) =>
      line.includes("\x1b") || line.length < columns
        ? line
        : `${line.slice(0, columns - 2)}…`
    );
    console.log(lines.join("\n"));
    if (tty) drawn = lines.length;
  };
  const note = (line: string) => {
    erase();
    console.log(`${(now() / 1000).toFixed(2)} s  ${line}`);
  };

  /** Once every worker waits in Redis, one set() releases them all. */
  const fire = async () => {
    // The event's listeners ZSET (key layout documented on the class).
    const listeners = `redsync:{${events.start}}:listeners`;
    for (let i = 0; i < 200; i++) {
      if (Number(await redis.send("ZCARD", listeners)) >= WORKERS) break;
      await sleep(10);
    }
    woken = await startGun.set();
  };

  const onEvent = (worker: Worker, event: WorkerEvent) => {
    // Written before any SIGKILL: counted even from the victim.
    if (event.t === "baton-set") {
      if (event.ok) batonSets++;
      else batonRefused++;
      return;
    }
    if (worker.state === "killed") return;
    if (event.t === "ready") {
      worker.state = "ready";
      if (++ready === WORKERS) {
        fire().catch((error) => note(`cannot set the start event: ${error}`));
      }
    } else if (event.t === "started") {
      worker.state = "idle";
      if (++started === WORKERS) {
        note(
          `${WORKERS} workers released by one set() of '${events.start}' (it woke ${woken} waiting in Redis)`,
        );
      }
    } else if (event.t === "baton-taken") worker.takes++;
    else if (event.t === "waiting") worker.state = "waiting";
    else if (event.t === "released") worker.state = "idle";
    else if (event.t === "lost") {
      lost++;
      note(`w${worker.id} lost its lease (token ${event.token})`);
    } else {
      worker.state = "holding";
      worker.token = event.token;
      acquiredAt.push(now());
      waits.push(event.waitMs);
      maxHolders = Math.max(maxHolders, event.holders);
      if (event.holders > PERMITS) {
        note(`VIOLATION: ${event.holders} holders at once (w${worker.id})`);
      }
      if (!event.fenced) {
        tokensOk = false;
        note(`VIOLATION: token ${event.token} of w${worker.id} did not grow`);
      }
      if (victim === undefined && now() >= KILL_AT_MS && !worker.taker) {
        // It has just acquired, so it surely holds its permit.
        victim = worker;
        killedAt = now();
        worker.state = "killed";
        Deno.kill(worker.pid, "SIGKILL");
        note(
          `SIGKILL w${worker.id}, holder of token ${worker.token}: its permit stays taken until its lease ends`,
        );
        worker.exit.then(() =>
          FORGET.run(redis, [keys.holders, keys.epoch], [worker.pid])
        ).catch((error) => note(`cannot write off w${worker.id}: ${error}`));
      } else if (
        event.epoch > 0 && event.holders === PERMITS && isNaN(recoveredAt)
      ) {
        recoveredAt = now();
        note(
          `recovered: ${PERMITS} workers hold permits again, ${
            Math.round(recoveredAt - killedAt)
          } ms after the SIGKILL`,
        );
      }
    }
  };

  const workers = Array.from(
    { length: WORKERS },
    (_, i) => startWorker(i + 1, url, name, onEvent),
  );
  try {
    while (!interrupted.signal.aborted && now() < RUN_MS) {
      await readRedis().catch((error) => {
        redisLine = `redis says: cannot read: ${error}`;
      });
      draw();
      await sleep(250, interrupted.signal);
    }
  } finally {
    await readRedis().catch(() => {}); // the last frame, read now
    draw();
    drawn = 0; // the last status stays on screen
    await Promise.all(workers.map(stopWorker));
  }
  const rate = acquiredAt.length / (now() - (acquiredAt[0] ?? 0)) * 1000;
  // All workers released on SIGTERM, and the dead one's lease has ended.
  const all = await semaphore.tryAcquire({ permits: PERMITS });
  await all?.release();
  // Every worker is gone: each signal set was taken, or is still queued.
  pending = await baton.pending();
  for (const primitive of [name, events.start, events.baton]) {
    // deno-fmt-ignore
    const [, found] = await redis.send("SCAN", 0, "MATCH", `*{${primitive}}*`, "COUNT", 1e6) as [string, string[]];
    if (found.length > 0) await redis.send("UNLINK", ...found); // the run's keys
  }
  if (interrupted.signal.aborted) return 130;

  const recoveryMs = Math.round(recoveredAt - killedAt);
  const clean = all !== undefined &&
    workers.every((w) => w === victim || w.clean);
  console.log(
    `\nrecovery = time from the SIGKILL until ${PERMITS} workers are in their critical sections again`,
  );
  console.log(
    `${"acquisitions".padEnd(28)}${acquiredAt.length} (${
      rate.toFixed(1)
    } hand-offs/s), leases lost: ${lost}`,
  );
  const meanWait = waits.reduce((a, b) => a + b, 0) / waits.length;
  console.log(
    `${"waits (acquired LockEvent)".padEnd(28)}mean ${
      Math.round(meanWait)
    } ms, longest ${Math.round(Math.max(...waits))} ms`,
  );
  console.log(
    `${"redis at most waiters".padEnd(28)}${peakLine || "(never read)"}`,
  );
  const takers = workers.filter((w) => w.taker);
  const taken = takes();
  const checks: [string, string, boolean][] = [
    [
      "most holders at once",
      `${maxHolders} (limit ${PERMITS})`,
      maxHolders <= PERMITS,
    ],
    ["tokens strictly increasing", tokensOk ? "yes" : "no", tokensOk],
    [
      "recovery after SIGKILL",
      `${
        isNaN(recoveryMs) ? "none" : `${recoveryMs} ms`
      } (lease ${LEASE_MS} ms)`,
      recoveryMs <= LEASE_MS + 3_000,
    ],
    ["clean stop", clean ? "yes, all permits free" : "no", clean],
    [
      "start (manual-reset event)",
      `${started}/${WORKERS} released by one set()`,
      started === WORKERS,
    ],
    [
      "baton (auto-reset event)",
      `${batonSets} set = ${taken} taken (${
        takers.map((w) => `w${w.id} ${w.takes}`).join(", ")
      }) + ${pending} pending${
        batonRefused > 0 ? `, ${batonRefused} refused` : ""
      }`,
      batonSets > 0 && batonSets === taken + pending,
    ],
    [
      "waiting seen in Redis",
      `max ${maxWaiters} waiters, ${maxRedisHolders} holders${
        sawContended ? ", contended" : ", never contended"
      }`,
      maxWaiters > 0 && sawContended && maxRedisHolders <= PERMITS,
    ],
  ];
  const width = Math.max(...checks.map(([, value]) => value.length)) + 2;
  for (const [label, value, ok] of checks) {
    console.log(
      `${label.padEnd(28)}${value.padEnd(width)}${ok ? "ok" : "FAILED"}`,
    );
  }
  return checks.every(([, , ok]) => ok) ? 0 : 1;
}

function startWorker(
  id: number,
  url: string,
  name: string,
  onEvent: (worker: Worker, event: WorkerEvent) => void,
): Worker {
  const taker = id <= TAKERS;
  const child: ChildProcess = spawn(
    Deno.execPath(),
    ["run", "-A", WORKER, url, name, taker ? "taker" : "worker"],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const worker: Worker = {
    id,
    pid: child.pid ?? -1,
    state: "starting",
    token: 0,
    taker,
    takes: 0,
    clean: false,
    exit: new Promise((resolve) => {
      child.once("error", () => resolve());
      child.once("close", (code) => {
        worker.clean = code === 0;
        resolve();
      });
    }),
  };
  let buffered = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    const lines = (buffered + chunk).split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      if (line.startsWith("{")) onEvent(worker, JSON.parse(line));
    }
  });
  return worker;
}

/** SIGTERM, then SIGKILL after the grace period; waits for the exit. */
async function stopWorker(worker: Worker): Promise<void> {
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    try {
      Deno.kill(worker.pid, signal);
    } catch {
      // already gone
    }
    await Promise.race([worker.exit, sleep(GRACE_MS)]);
  }
  await worker.exit;
}

/**
 * One line of what Redis says about the semaphore: the contended names,
 * its live waiters, and its holders (owner, fencing token, lease left).
 */
function redisSays(
  names: string[],
  info: LockInfo,
  owner: (token: number) => string,
): string {
  const holders = info.holders.map((h) =>
    `${owner(h.token)} #…${String(h.token).slice(-5)} ${h.remainingMs}ms`
  );
  return `redis says: contended=[${
    names.join(" ")
  }] waiters=${info.waiters} holders=${info.holders.length} (${
    holders.join(", ")
  })`;
}
