/**
 * The chaos run: worker processes (`worker.ts`) contend on a Semaphore and
 * a Mutex of a private redis-server with AOF (`appendfsync always`) while
 * faults (`faults.ts`) are injected in a loop; the oracle (`oracle.ts`)
 * then checks the logs. `deno task chaos` (`main.ts`) runs {@linkcode LONG}
 * and writes `bench/results/chaos.md`; `tests/chaos_test.ts` runs
 * {@linkcode SHORT}.
 *
 * Every process it starts is stopped by the run, also on failure; workers
 * stop by themselves at a fixed time, and exit hard 25 s after it.
 *
 * @module
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import { connect, Mutex, type RedisClient, Semaphore } from "../../mod.ts";
import { inspect } from "../../src/admin.ts";
import { startRedis } from "../../harness/server.ts";
import { runtime } from "../../harness/runtime.ts";
import { sleep } from "../shared/timing.ts";
import {
  FAULT_KINDS,
  type FaultContext,
  type FaultKind,
  inject,
} from "./faults.ts";
import { Fleet } from "./fleet.ts";
import { analyze } from "./oracle.ts";
import {
  type ChaosConfig,
  type ChaosData,
  type ChaosReport,
  type Fault,
  type FinalCheck,
  type Lock,
  LOCKS,
  type Sample,
} from "./types.ts";

/** The script each worker process runs. */
const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));

/** `deno task chaos`: about 4 minutes. */
export const LONG: ChaosConfig = {
  workers: 11,
  permits: 3,
  leaseMs: 1_500,
  waiterTtlMs: 3_000,
  quietMs: 3_000,
  faultsMs: 190_000,
  maxFaults: 200,
  tailMs: 12_000,
  pollingEvery: 4,
};

/** `tests/chaos_test.ts`: about 40 s, every fault kind at least twice. */
export const SHORT: ChaosConfig = {
  workers: 5,
  permits: 3,
  leaseMs: 1_000,
  waiterTtlMs: 2_000,
  quietMs: 2_000,
  faultsMs: 22_000,
  maxFaults: 24,
  tailMs: 8_000,
  pollingEvery: 4,
};

const RECOVERY_WAIT_MS = 8_000;

/** Samples Redis' live holders of both primitives every ~100 ms until `stop`. */
async function monitor(
  redis: RedisClient,
  names: Record<Lock, string>,
  samples: Sample[],
  stop: AbortSignal,
): Promise<void> {
  while (!stop.aborted) {
    await Promise.all(LOCKS.map(async (lock) => {
      try {
        const info = await inspect(redis, names[lock]);
        samples.push({
          at: Date.now(),
          lock,
          ids: info.holders.map((h) => h.id),
        });
      } catch {
        // Redis is down or frozen: no sample
      }
    }));
    await sleep(100);
  }
}

/** After the run: every permit of both primitives at once, within the bound. */
async function finalCheck(
  semaphore: Semaphore,
  mutex: Mutex,
  config: ChaosConfig,
): Promise<FinalCheck> {
  const boundMs = config.waiterTtlMs + config.leaseMs + 2_000;
  const started = Date.now();
  let error: string | undefined;
  while (Date.now() - started <= boundMs) {
    try {
      const all = await semaphore.tryAcquire({ permits: config.permits });
      const one = await mutex.tryAcquire();
      if (all && one) {
        const tokens = { semaphore: all.token, mutex: one.token };
        await all.release();
        await one.release();
        return { ok: true, ms: Date.now() - started, boundMs, tokens };
      }
      await all?.release();
      await one?.release();
    } catch (e) {
      error = `${(e as Error).name}: ${(e as Error).message}`;
    }
    await sleep(50);
  }
  return { ok: false, ms: Date.now() - started, boundMs, tokens: {}, error };
}

/** Runs the whole thing; every process it started is gone when it settles. */
export async function runChaos(
  config: ChaosConfig,
  log: (message: string) => void = console.log,
  worker: string = WORKER,
): Promise<{ data: ChaosData; report: ChaosReport }> {
  const startedAt = Date.now();
  const stamp = () => `+${((Date.now() - startedAt) / 1000).toFixed(1)}s`;
  const id = crypto.randomUUID().slice(0, 8);
  const names = { semaphore: `chaos-sem-${id}`, mutex: `chaos-mutex-${id}` };
  // Workers stop by themselves at stopAt; faults start until stopAt - tailMs.
  const stopAt = startedAt + 1_000 + config.quietMs + config.faultsMs +
    config.tailMs;
  const server = await startRedis({
    args: ["--appendonly", "yes", "--appendfsync", "always"],
  });
  let redis: RedisClient | undefined;
  let fleet: Fleet | undefined;
  const halt = new AbortController();
  let monitoring: Promise<void> | undefined;
  try {
    redis = await connect({
      url: server.url,
      commandTimeoutMs: 3_000,
      reconnect: { minDelayMs: 20, maxDelayMs: 200 },
    });
    const options = {
      leaseMs: config.leaseMs,
      waiterTtlMs: config.waiterTtlMs,
    };
    const semaphore = await Semaphore.create(redis, names.semaphore, {
      ...options,
      permits: config.permits,
    });
    const mutex = new Mutex(redis, names.mutex, options);
    const redisVersion = /redis_version:(\S+)/.exec(
      String(await redis.send("INFO", "server")),
    )?.[1] ?? "?";
    let spawned = 0;
    const activeFleet = fleet = new Fleet(
      worker,
      (w) => [
        server.url,
        names.semaphore,
        names.mutex,
        String(config.permits),
        String(config.leaseMs),
        String(config.waiterTtlMs),
        w,
        String(stopAt),
        ++spawned % config.pollingEvery === 0 ? "polling" : "blocking",
      ],
      stopAt - 3_000,
      config.workers * 8,
    );
    for (let i = 0; i < config.workers; i++) activeFleet.spawn();
    const samples: Sample[] = [];
    monitoring = monitor(redis, names, samples, halt.signal);
    log(
      `${stamp()} ${config.workers} workers on ${server.url}, Redis ${redisVersion}`,
    );
    await sleep(config.quietMs);

    const ctx: FaultContext = {
      server,
      redis,
      fleet: activeFleet,
      config,
      stopAt,
      victims: 0,
    };
    const faults: Fault[] = [];
    const faultsEnd = stopAt - config.tailMs;
    let round: FaultKind[] = [];
    for (let i = 0; i < config.maxFaults && Date.now() < faultsEnd; i++) {
      if (round.length === 0) {
        round = [...FAULT_KINDS].sort(() => Math.random() - 0.5);
      }
      const kind = round.shift()!;
      const fault = await inject(kind, ctx);
      if (fault === undefined) {
        log(`${stamp()} ${kind}: no holder to hit, skipped`);
        round.push(kind); // tried again later in the round
        continue;
      }
      faults.push(fault);
      const locks = fault.lock ? [fault.lock] : LOCKS;
      const recoverBy = Date.now() + RECOVERY_WAIT_MS;
      while (
        Date.now() < recoverBy &&
        locks.some((lock) => activeFleet.lastAcquired[lock] <= fault.clearedAt)
      ) await sleep(20);
      log(
        `${stamp()} ${kind}${
          fault.lock ? ` (${fault.victim}, ${fault.lock})` : ""
        }: ${
          locks.every((l) => activeFleet.lastAcquired[l] > fault.clearedAt)
            ? `next acquisition after ${
              Math.max(...locks.map((l) => activeFleet.lastAcquired[l])) -
              fault.at
            } ms`
            : `no acquisition within ${RECOVERY_WAIT_MS} ms`
        }`,
      );
      await sleep(300 + Math.random() * 500);
    }

    log(
      `${stamp()} faults over; workers stop at +${
        ((stopAt - startedAt) / 1000).toFixed(0)
      }s`,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(activeFleet.all.map((w) => w.closed)),
      new Promise((r) => timer = setTimeout(r, stopAt + 20_000 - Date.now())),
    ]);
    clearTimeout(timer);
    await activeFleet.stopAll();
    const final = await finalCheck(semaphore, mutex, config);
    log(
      `${stamp()} permits after the run: ${
        final.ok ? "ok" : "NOT OK"
      } in ${final.ms} ms`,
    );
    halt.abort();
    await monitoring;
    const data: ChaosData = {
      config: { ...config },
      startedAt,
      endedAt: Date.now(),
      lines: activeFleet.lines,
      workers: activeFleet.all.map((w) => w.life),
      faults,
      samples,
      final,
      redisVersion,
      runtime: `${runtime} ${
        runtime === "deno"
          ? (globalThis as { Deno?: { version: { deno: string } } }).Deno
            ?.version.deno
          : process.versions.bun ?? process.version
      }`,
    };
    return { data, report: analyze(data) };
  } finally {
    halt.abort();
    server.signal("SIGCONT");
    await fleet?.stopAll();
    await monitoring?.catch(() => {});
    await redis?.close();
    await server.stop();
  }
}
