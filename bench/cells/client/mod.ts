/**
 * The client cell: @redsync/core against ioredis and node-redis, with
 * `redis-benchmark` (C, hiredis-style) as the floor (`floor.ts`).
 *
 * Two measurements per client, both on one connection:
 * - sequential round trip: warm-up PINGs, then `await PING` one at a time,
 *   each timed with `performance.now()` (p50, p99, mean in microseconds);
 * - pipelined throughput: `SET key:i v` issued without awaiting each, in
 *   `Promise.all` batches, timed as a whole (operations per second).
 *
 * The clients take turns in rounds (A, B, C, then B, C, A, ...: the order
 * is rotated each round), and every figure reported is the median over the
 * rounds, so that the noise of a shared machine falls on all alike.
 *
 * @module
 */
import process from "node:process";
import { connect } from "../../../mod.ts";
import { int, num } from "../../shared/format.ts";
import { serverVersion } from "../../shared/redis.ts";
import { medianOf, percentile } from "../../shared/stats.ts";
import { rotate } from "../../shared/timing.ts";
import type { Cell, CellContext } from "../types.ts";
import {
  type BenchedClient,
  openIoRedis,
  openNodeRedis,
  openOurs,
} from "./clients.ts";
import { deleteFloorKey, Floor } from "./floor.ts";
import { clientMarkdown } from "./report.ts";
import {
  type ClientBenchOptions,
  type ClientBenchResult,
  type ClientFigures,
  DEFAULT_CLIENT_BENCH,
  type Latency,
  type Throughput,
} from "./types.ts";

/** `redis_version` of the server at `url`. */
async function versionOf(url: string): Promise<string> {
  await using redis = await connect(url);
  return await serverVersion(redis);
}

/** Deletes the keys the benchmark wrote (it may run on a shared `REDIS_URL`). */
async function deleteKeys(url: string, keys: readonly string[]): Promise<void> {
  await using redis = await connect(url);
  for (let from = 0; from < keys.length; from += 1_000) {
    await redis.command(["UNLINK", ...keys.slice(from, from + 1_000)]);
  }
}

async function sequential(
  client: BenchedClient,
  warmup: number,
  count: number,
): Promise<Latency> {
  for (let i = 0; i < warmup; i++) await client.ping();
  const samples = new Float64Array(count);
  let total = 0;
  const cpu = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await client.ping();
    const took = performance.now() - start;
    samples[i] = took;
    total += took;
  }
  const used = process.cpuUsage(cpu);
  samples.sort();
  return {
    p50: percentile(samples, 0.5) * 1_000,
    p99: percentile(samples, 0.99) * 1_000,
    mean: total / count * 1_000,
    cpu: (used.user + used.system) / count,
  };
}

/** Issues `SET keys[i] v` for i in [0, count), `batch` at a time. */
async function setBatches(
  client: BenchedClient,
  keys: readonly string[],
  count: number,
  batch: number,
): Promise<void> {
  for (let from = 0; from < count; from += batch) {
    const to = Math.min(count, from + batch);
    const replies: Promise<unknown>[] = new Array(to - from);
    for (let i = from; i < to; i++) {
      replies[i - from] = client.set(keys[i], "v");
    }
    await Promise.all(replies);
  }
}

async function pipelined(
  client: BenchedClient,
  keys: readonly string[],
  batch: number,
): Promise<Throughput> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await setBatches(client, keys, keys.length, batch);
  const seconds = (performance.now() - start) / 1_000;
  const used = process.cpuUsage(cpu);
  return {
    opsPerSec: keys.length / seconds,
    cpu: (used.user + used.system) / keys.length,
  };
}

function fmtLatency(l: Latency): string {
  return `p50 ${num(l.p50)} us, p99 ${num(l.p99)} us, mean ${
    num(l.mean)
  } us, cpu ${num(l.cpu)} us/op`;
}

/**
 * Measures our client, ioredis and node-redis against the Redis at `url`,
 * and `redis-benchmark` as the floor. Reports progress through `log`.
 */
export async function benchClient(
  { url, log, options }: CellContext<ClientBenchOptions>,
): Promise<ClientBenchResult> {
  const openers = [
    openOurs,
    (url: string) => openIoRedis(url),
    openNodeRedis,
    (url: string) => openIoRedis(url, true),
  ];
  const clients: BenchedClient[] = [];
  try {
    for (const open of openers) clients.push(await open(url));
    const serverVersion = await versionOf(url);
    const floor = new Floor(url);

    const seq = new Map<string, Latency[]>(clients.map((c) => [c.name, []]));
    for (let round = 0; round < options.seqRounds; round++) {
      for (const client of rotate(clients, round)) {
        const result = await sequential(
          client,
          options.seqWarmup,
          options.seqCount,
        );
        seq.get(client.name)?.push(result);
        log(
          `seq round ${round + 1}/${options.seqRounds} ${client.name}: ${
            fmtLatency(result)
          }`,
        );
      }
      await floor.ping(options.floorPingCount, log);
    }

    const keys = Array.from(
      { length: options.pipeCount },
      (_, i) => `key:${i}`,
    );
    for (const client of clients) {
      const start = performance.now();
      for (let done = 0; done < options.pipeWarmup; done += keys.length) {
        const count = Math.min(keys.length, options.pipeWarmup - done);
        await setBatches(client, keys, count, options.pipeBatch);
      }
      log(
        `pipelined warm-up ${client.name}: ${
          options.pipeWarmup.toLocaleString("en-US")
        } SETs in ${Math.round(performance.now() - start)} ms`,
      );
    }
    const pipe = new Map<string, Throughput[]>(
      clients.map((c) => [c.name, []]),
    );
    for (let round = 0; round < options.pipeRounds; round++) {
      for (const client of rotate(clients, round)) {
        const result = await pipelined(client, keys, options.pipeBatch);
        pipe.get(client.name)?.push(result);
        log(
          `pipelined round ${round + 1}/${options.pipeRounds} ${client.name}: ${
            int(result.opsPerSec)
          } ops/s, cpu ${result.cpu.toFixed(2)} us/op`,
        );
      }
      await floor.set(options.floorSetCount, log);
    }

    const figures = clients.map((client): ClientFigures => {
      const rounds = seq.get(client.name) ?? [];
      const pipeRounds = pipe.get(client.name) ?? [];
      return {
        name: client.name,
        seq: {
          p50: medianOf(rounds.map((r) => r.p50)),
          p99: medianOf(rounds.map((r) => r.p99)),
          mean: medianOf(rounds.map((r) => r.mean)),
          cpu: medianOf(rounds.map((r) => r.cpu)),
        },
        seqRounds: rounds,
        pipelined: {
          opsPerSec: medianOf(pipeRounds.map((r) => r.opsPerSec)),
          cpu: medianOf(pipeRounds.map((r) => r.cpu)),
        },
        pipelinedRounds: pipeRounds,
      };
    });

    await deleteKeys(url, keys);
    if (floor.error === undefined) await deleteFloorKey(url);
    return {
      options,
      clients: figures,
      floor: floor.figures(),
      floorError: floor.error,
      serverVersion,
    };
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
  }
}

/** The cell (no quick setting: `BENCH_QUICK` leaves it as it is). */
export const clientCell: Cell<ClientBenchOptions, ClientBenchResult> = {
  id: "client",
  section: "client",
  about:
    "our client against ioredis and node-redis: sequential round trip and pipelined throughput",
  options: { full: DEFAULT_CLIENT_BENCH, quick: DEFAULT_CLIENT_BENCH },
  run: benchClient,
  render: (result) => ({ markdown: clientMarkdown(result) }),
};
