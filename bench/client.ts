/**
 * Client benchmark: @redsync/core against ioredis and node-redis, with
 * `redis-benchmark` (C, hiredis-style) as the floor.
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
import { execFile } from "node:child_process";
import process from "node:process";
import { Redis as IoRedis } from "npm:ioredis@5.4.1";
import { createClient } from "npm:redis@4.7.0";
import { connect } from "../mod.ts";

/** Versions of the npm clients, as pinned in the imports above. */
export const IOREDIS_VERSION = "5.4.1";
/** node-redis version, as pinned in the import above. */
export const NODE_REDIS_VERSION = "4.7.0";

/** How much work each measurement does. */
export interface ClientBenchOptions {
  /** Rounds of sequential PINGs (each client once per round). */
  seqRounds: number;
  /** PINGs before timing, per client and round. */
  seqWarmup: number;
  /** Timed sequential PINGs per client and round. */
  seqCount: number;
  /** Rounds of the pipelined SETs (each client once per round). */
  pipeRounds: number;
  /** SETs per pipelined run. */
  pipeCount: number;
  /**
   * Untimed SETs (same batching) per client before the first round, for
   * the JIT: the first 100-200k SETs of a client run several times slower.
   */
  pipeWarmup: number;
  /** SETs awaited together with `Promise.all`. */
  pipeBatch: number;
  /** Requests of the `redis-benchmark -c 1 -t ping` run of each round. */
  floorPingCount: number;
  /** Requests of the `redis-benchmark -c 1 -P 100 -t set` run of each round. */
  floorSetCount: number;
}

/** The defaults: about a minute on 2 busy cores. */
export const DEFAULT_CLIENT_BENCH: ClientBenchOptions = {
  seqRounds: 5,
  seqWarmup: 2_000,
  seqCount: 20_000,
  pipeRounds: 3,
  pipeCount: 100_000,
  pipeWarmup: 200_000,
  pipeBatch: 10_000,
  floorPingCount: 50_000,
  floorSetCount: 1_000_000,
};

/** One sequential run, in microseconds. */
export interface Latency {
  p50: number;
  p99: number;
  mean: number;
  /** Process CPU time (user + system) per PING. */
  cpu: number;
}

/** One pipelined run. */
export interface Throughput {
  opsPerSec: number;
  /** Process CPU time (user + system) per SET, in microseconds. */
  cpu: number;
}

/** One client's figures: medians over the rounds, and every round. */
export interface ClientFigures {
  name: string;
  seq: Latency;
  seqRounds: Latency[];
  pipelined: Throughput;
  pipelinedRounds: Throughput[];
}

/** What `redis-benchmark` measured (medians over its runs). */
export interface FloorFigures {
  /** `-c 1 -t ping`: per test (PING_INLINE, PING_MBULK). */
  ping: {
    test: string;
    rps: number;
    /** `1e6 / rps`: the mean round trip. */
    roundTripUs: number;
    p50Us: number;
    p99Us: number;
  }[];
  /** `-c 1 -P 100 -t set`: operations per second. */
  pipelinedSet: number;
}

/** Everything {@linkcode benchClient} measured. */
export interface ClientBenchResult {
  options: ClientBenchOptions;
  clients: ClientFigures[];
  /** `undefined` when `redis-benchmark` is not available. */
  floor: FloorFigures | undefined;
  /** Why the floor is missing, when it is. */
  floorError?: string;
  serverVersion: string;
}

/** The part of every client the benchmark uses. */
interface Contender {
  readonly name: string;
  ping(): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
  close(): Promise<void>;
}

/** The part of ioredis' `Redis` the benchmark uses. */
interface IoRedisLike {
  connect(): Promise<void>;
  ping(): Promise<string>;
  set(key: string, value: string): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** The part of node-redis' client the benchmark uses. */
interface NodeRedisLike {
  connect(): Promise<unknown>;
  ping(): Promise<string>;
  set(key: string, value: string): Promise<unknown>;
  quit(): Promise<unknown>;
  on(event: "error", listener: (error: Error) => void): unknown;
}

async function openOurs(url: string): Promise<Contender> {
  const redis = await connect(url);
  return {
    name: "@redsync/core",
    ping: () => redis.send("PING"),
    set: (key, value) => redis.send("SET", key, value),
    close: () => redis.close(),
  };
}

async function openIoRedis(
  url: string,
  autoPipelining = false,
): Promise<Contender> {
  const redis: IoRedisLike = new IoRedis(url, {
    lazyConnect: true,
    enableAutoPipelining: autoPipelining,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  await redis.connect();
  return {
    name: `ioredis ${IOREDIS_VERSION}${
      autoPipelining ? " (enableAutoPipelining)" : ""
    }`,
    ping: () => redis.ping(),
    set: (key, value) => redis.set(key, value),
    close: async () => {
      try {
        await redis.quit();
      } finally {
        redis.disconnect();
      }
    },
  };
}

async function openNodeRedis(url: string): Promise<Contender> {
  const client: NodeRedisLike = createClient({
    url,
    socket: { reconnectStrategy: false },
  });
  client.on("error", () => {}); // surfaced by the rejected commands
  await client.connect();
  return {
    name: `node-redis ${NODE_REDIS_VERSION}`,
    ping: () => client.ping(),
    set: (key, value) => client.set(key, value),
    close: async () => {
      await client.quit();
    },
  };
}

/** `redis_version` from `INFO server`. */
async function redisVersion(url: string): Promise<string> {
  await using redis = await connect(url);
  const info = await redis.send("INFO", "server");
  return /redis_version:(\S+)/.exec(String(info))?.[1] ?? "unknown";
}

/** Deletes the keys the benchmark wrote (it may run on a shared `REDIS_URL`). */
async function deleteKeys(url: string, keys: readonly string[]): Promise<void> {
  await using redis = await connect(url);
  for (let from = 0; from < keys.length; from += 1_000) {
    await redis.command(["UNLINK", ...keys.slice(from, from + 1_000)]);
  }
}

/** Median of a non-empty list (mean of the middle two when even). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid]
    : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Nearest-rank percentile of sorted values, `q` in (0, 1]. */
function percentile(sorted: Float64Array, q: number): number {
  const rank = Math.min(
    sorted.length - 1,
    Math.max(0, Math.ceil(q * sorted.length) - 1),
  );
  return sorted[rank];
}

async function sequential(
  client: Contender,
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
  client: Contender,
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
  client: Contender,
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

/** Rotates `items` left by `by`: round r starts with client r. */
function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function fmtLatency(l: Latency): string {
  return `p50 ${us(l.p50)} us, p99 ${us(l.p99)} us, mean ${
    us(l.mean)
  } us, cpu ${us(l.cpu)} us/op`;
}

/**
 * Measures our client, ioredis and node-redis against the Redis at `url`,
 * and `redis-benchmark` as the floor. Reports progress through `log`.
 */
export async function benchClient(
  url: string,
  log: (line: string) => void,
  options: ClientBenchOptions = DEFAULT_CLIENT_BENCH,
): Promise<ClientBenchResult> {
  const openers = [
    openOurs,
    (url: string) => openIoRedis(url),
    openNodeRedis,
    (url: string) => openIoRedis(url, true),
  ];
  const clients: Contender[] = [];
  try {
    for (const open of openers) clients.push(await open(url));
    const serverVersion = await redisVersion(url);
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
            ops(result.opsPerSec)
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
          p50: median(rounds.map((r) => r.p50)),
          p99: median(rounds.map((r) => r.p99)),
          mean: median(rounds.map((r) => r.mean)),
          cpu: median(rounds.map((r) => r.cpu)),
        },
        seqRounds: rounds,
        pipelined: {
          opsPerSec: median(pipeRounds.map((r) => r.opsPerSec)),
          cpu: median(pipeRounds.map((r) => r.cpu)),
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

// ---------------------------------------------------------------------------
// redis-benchmark
// ---------------------------------------------------------------------------

const REDIS_BENCHMARK_TIMEOUT_MS = 60_000;

/** Runs `redis-benchmark` with `args`; resolves its stdout. */
export function redisBenchmark(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "redis-benchmark",
      args,
      { timeout: REDIS_BENCHMARK_TIMEOUT_MS, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(
              `redis-benchmark ${args.join(" ")} failed: ${
                String(stderr).trim() || error.message
              }`,
            ),
          );
        } else resolve(String(stdout));
      },
    );
  });
}

/** A `--csv` row: test name and its numeric columns by header name. */
interface CsvRow {
  test: string;
  values: Map<string, number>;
}

/** Parses `redis-benchmark --csv` output (quoted fields, header first). */
export function parseBenchmarkCsv(text: string): CsvRow[] {
  const lines = text.split(/\r?\n/).filter((line) => line.startsWith('"'));
  if (lines.length < 2) {
    throw new Error(`unexpected CSV: ${text.slice(0, 200)}`);
  }
  const fields = (line: string) =>
    line.split(",").map((f) => f.replace(/^"|"$/g, ""));
  const header = fields(lines[0]);
  return lines.slice(1).map((line) => {
    const cells = fields(line);
    const values = new Map<string, number>();
    for (let i = 1; i < header.length && i < cells.length; i++) {
      values.set(header[i], Number(cells[i]));
    }
    return { test: cells[0], values };
  });
}

/** Host, port and password args of `redis-benchmark` for a `redis://` URL. */
export function connectionArgs(url: string): string[] {
  const parsed = new URL(url);
  if (parsed.protocol !== "redis:") {
    throw new Error(
      `redis-benchmark needs a redis:// URL, not ${parsed.protocol}`,
    );
  }
  const args = [
    "-h",
    parsed.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    "-p",
    parsed.port || "6379",
  ];
  if (parsed.password) {
    args.push("-a", decodeURIComponent(parsed.password));
    if (parsed.username) {
      args.push("--user", decodeURIComponent(parsed.username));
    }
  }
  const db = parsed.pathname.replace(/^\//, "");
  if (db !== "") args.push("--dbnum", db);
  return args;
}

function rpsText(rows: readonly CsvRow[]): string {
  return rows.map((row) => `${row.test} ${ops(row.values.get("rps") ?? NaN)}`)
    .join(", ");
}

/**
 * `redis-benchmark` runs, taken inside the rounds of the clients so that
 * the floor sees the same noise. The first failure (not installed, a TLS
 * URL, ...) turns the floor off, with the reason kept in `error`.
 */
class Floor {
  readonly #conn: string[] = [];
  readonly #pingRuns: CsvRow[][] = [];
  readonly #setRuns: number[] = [];
  error: string | undefined;

  constructor(url: string) {
    try {
      this.#conn = connectionArgs(url);
    } catch (error) {
      this.error = error instanceof Error ? error.message : String(error);
    }
  }

  /** `-c 1 -n count -t ping`: one PING at a time. */
  async ping(count: number, log: (line: string) => void): Promise<void> {
    const rows = await this.#run(
      ["-c", "1", "-n", String(count), "-t", "ping"],
      log,
    );
    if (rows === undefined) return;
    this.#pingRuns.push(rows);
    log(`redis-benchmark -c 1 -t ping: ${rpsText(rows)} rps`);
  }

  /** `-c 1 -P 100 -n count -t set`: 100 SETs in flight. */
  async set(count: number, log: (line: string) => void): Promise<void> {
    const rows = await this.#run(
      ["-c", "1", "-P", "100", "-n", String(count), "-t", "set"],
      log,
    );
    if (rows === undefined) return;
    const rps = rows.find((row) => row.test === "SET")?.values.get("rps");
    if (rps === undefined || !Number.isFinite(rps)) {
      this.#disable("redis-benchmark -t set printed no SET row", log);
      return;
    }
    this.#setRuns.push(rps);
    log(`redis-benchmark -c 1 -P 100 -t set: ${rpsText(rows)} rps`);
  }

  /** Medians over the runs, or `undefined` when it was turned off. */
  figures(): FloorFigures | undefined {
    if (this.error !== undefined || this.#pingRuns.length === 0) {
      return undefined;
    }
    const tests = this.#pingRuns[0].map((row) => row.test);
    return {
      ping: tests.map((test) => {
        const col = (name: string) =>
          median(
            this.#pingRuns.map((run) =>
              run.find((row) => row.test === test)?.values.get(name) ?? NaN
            ),
          );
        const rps = col("rps");
        return {
          test,
          rps,
          roundTripUs: 1e6 / rps,
          p50Us: col("p50_latency_ms") * 1_000,
          p99Us: col("p99_latency_ms") * 1_000,
        };
      }),
      pipelinedSet: median(this.#setRuns),
    };
  }

  async #run(
    args: string[],
    log: (line: string) => void,
  ): Promise<CsvRow[] | undefined> {
    if (this.error !== undefined) return undefined;
    try {
      return parseBenchmarkCsv(
        await redisBenchmark([...this.#conn, ...args, "--csv"]),
      );
    } catch (error) {
      this.#disable(
        error instanceof Error ? error.message : String(error),
        log,
      );
      return undefined;
    }
  }

  #disable(reason: string, log: (line: string) => void): void {
    this.error = reason;
    log(`redis-benchmark floor turned off: ${reason}`);
  }
}

/** Deletes the key that `redis-benchmark -t set` writes. */
async function deleteFloorKey(url: string): Promise<void> {
  await using redis = await connect(url);
  await redis.send("UNLINK", "key:__rand_int__");
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

function us(value: number): string {
  return Number.isFinite(value) ? value.toFixed(1) : "n/a";
}

function ops(value: number): string {
  return Number.isFinite(value)
    ? Math.round(value).toLocaleString("en-US")
    : "n/a";
}

function range(values: readonly number[], fmt: (v: number) => string): string {
  if (values.length === 0) return "n/a";
  return `${fmt(Math.min(...values))} – ${fmt(Math.max(...values))}`;
}

/** The result as a markdown section: the table, then how it was measured. */
export function clientMarkdown(result: ClientBenchResult): string {
  const o = result.options;
  const n = (value: number) => value.toLocaleString("en-US");
  const lines = [
    "## Client: round trip and pipelining",
    "",
    `Redis ${result.serverVersion}, one connection per client, all clients in one process. ` +
    `Sequential: ${n(o.seqWarmup)} warm-up then ${
      n(o.seqCount)
    } timed \`await PING\`, ` +
    `median over ${o.seqRounds} rounds. Pipelined: ${
      n(o.pipeCount)
    } \`SET key:i v\` ` +
    `in \`Promise.all\` batches of ${n(o.pipeBatch)}, after ${
      n(o.pipeWarmup)
    } untimed ` +
    `ones per client, median over ${o.pipeRounds} rounds. The clients alternate ` +
    `within each round, the first one rotating. CPU is the process's user + system ` +
    `time per command (it includes the runtime's I/O threads).`,
    "",
    "| client | seq p50 (us) | seq p99 (us) | seq mean (us) | seq CPU (us/op) | pipelined SET (ops/s) | pipelined CPU (us/op) | seq p50 over rounds (us) | ops/s over rounds |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
  ];
  for (const c of result.clients) {
    lines.push(
      `| ${c.name} | ${us(c.seq.p50)} | ${us(c.seq.p99)} | ${
        us(c.seq.mean)
      } | ${us(c.seq.cpu)} | ${ops(c.pipelined.opsPerSec)} | ${
        c.pipelined.cpu.toFixed(2)
      } | ${range(c.seqRounds.map((r) => r.p50), us)} | ${
        range(c.pipelinedRounds.map((r) => r.opsPerSec), ops)
      } |`,
    );
  }
  const floor = result.floor;
  if (floor) {
    for (const row of floor.ping) {
      lines.push(
        `| redis-benchmark \`-c 1 -t ping\` ${row.test} (floor) | ${
          us(row.p50Us)
        } | ${us(row.p99Us)} | ${us(row.roundTripUs)} | | | | | |`,
      );
    }
    lines.push(
      `| redis-benchmark \`-c 1 -P 100 -t set\` (floor) | | | | | ${
        ops(floor.pipelinedSet)
      } | | | |`,
    );
  } else {
    lines.push(
      `| redis-benchmark (floor) | skipped: ${
        (result.floorError ?? "").replaceAll("|", "\\|").split("\n")[0]
      } | | | | | | | |`,
    );
  }
  const ours = result.clients[0];
  const io = result.clients.find((c) =>
    c.name === `ioredis ${IOREDIS_VERSION}`
  );
  if (ours && io) {
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    lines.push(
      "",
      `${ours.name} / ${io.name}: seq p50 ${
        ratio(ours.seq.p50, io.seq.p50)
      }x, ` +
        `seq mean ${ratio(ours.seq.mean, io.seq.mean)}x, seq CPU ${
          ratio(ours.seq.cpu, io.seq.cpu)
        }x (lower is better); pipelined ops/s ${
          ratio(ours.pipelined.opsPerSec, io.pipelined.opsPerSec)
        }x (higher is better), pipelined CPU ${
          ratio(ours.pipelined.cpu, io.pipelined.cpu)
        }x (lower is better).`,
    );
  }
  if (floor) {
    lines.push(
      "",
      `Floor: redis-benchmark with ${n(o.floorPingCount)} PINGs and ${
        n(o.floorSetCount)
      } pipelined SETs per run, one run per round (median); its mean round trip ` +
        "is 1e6 / rps, its p50/p99 come from its CSV (1 us resolution).",
    );
  }
  return lines.join("\n");
}
