/**
 * The floor of the client cell: `redis-benchmark -c 1` runs (sequential
 * PINGs, 100 pipelined SETs), taken inside the rounds of the clients so that
 * the floor sees the same noise.
 *
 * @module
 */
import { connect } from "../../../mod.ts";
import { int } from "../../shared/format.ts";
import {
  connectionArgs,
  type CsvRow,
  parseBenchmarkCsv,
  redisBenchmark,
} from "../../shared/redis_benchmark.ts";
import { medianOf } from "../../shared/stats.ts";
import type { FloorFigures } from "./types.ts";

function rpsText(rows: readonly CsvRow[]): string {
  return rows.map((row) => `${row.test} ${int(row.values.get("rps") ?? NaN)}`)
    .join(", ");
}

/**
 * `redis-benchmark` runs, taken inside the rounds of the clients so that
 * the floor sees the same noise. The first failure (not installed, a TLS
 * URL, ...) turns the floor off, with the reason kept in `error`.
 */
export class Floor {
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
          medianOf(
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
      pipelinedSet: medianOf(this.#setRuns),
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
export async function deleteFloorKey(url: string): Promise<void> {
  await using redis = await connect(url);
  await redis.send("UNLINK", "key:__rand_int__");
}
