/**
 * The types of the client cell: how much work it does, and what it
 * measured.
 *
 * @module
 */

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

/** Everything the client cell measured. */
export interface ClientBenchResult {
  options: ClientBenchOptions;
  clients: ClientFigures[];
  /** `undefined` when `redis-benchmark` is not available. */
  floor: FloorFigures | undefined;
  /** Why the floor is missing, when it is. */
  floorError?: string;
  serverVersion: string;
}
