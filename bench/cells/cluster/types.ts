/**
 * The types of the cluster cell: how much work it does, its clients, and
 * what it measured.
 *
 * @module
 */
import {
  DEFAULT_INTERLEAVED_BENCH,
  type InterleavedBenchOptions,
  QUICK_INTERLEAVED_BENCH,
} from "../../shared/ab/options.ts";
import type { Compared } from "../../shared/ab/sampler.ts";

/**
 * How much work the cluster cells do: `pings` also counts the `GET`s, and
 * the spread cell's warm-up has one more hand-off per name.
 */
export interface ClusterBenchOptions extends InterleavedBenchOptions {
  /** Names of the spread cell. */
  spreadNames: number;
}

/** About 60 s on 2 cores. */
export const DEFAULT_CLUSTER_BENCH: ClusterBenchOptions = {
  ...DEFAULT_INTERLEAVED_BENCH,
  spreadNames: 100,
};

/** `BENCH_QUICK=1`: two short rounds, about 10 s. */
export const QUICK_CLUSTER_BENCH: ClusterBenchOptions = {
  ...DEFAULT_CLUSTER_BENCH,
  ...QUICK_INTERLEAVED_BENCH,
};

/** Which client. */
export type Layout = "single" | "cluster";
export const LAYOUTS: readonly Layout[] = ["single", "cluster"];
/**
 * The clients, with the control of the uncontended cell: a single-node
 * client connected straight to the cluster primary that holds the mutex.
 */
export type Client = Layout | "direct";

/**
 * One measurement on both clients: every sample of every round, ms; `direct`
 * is the control (uncontended only): the cluster's primary, plain client.
 * The lock cells' own `floor`: a round trip to the server the lock lives on,
 * sampled within the cell next to every measured sample, so that it shares
 * the cell's moment and server (uncontended: a `GET` in the mutex's slot
 * just before each cycle; hand-off: the same after `settleMs` of idling,
 * `settleMs` before each release). `capped`: some round stopped at
 * `cellMs` before its hand-offs.
 */
export type ClusterCell = Compared<Layout, "direct">;

/** Everything the cluster cell measured. */
export interface ClusterBenchResult {
  options: ClusterBenchOptions;
  /** Set when the cluster could not be started: nothing was measured. */
  skipped?: string;
  /** The single node's address (no password) and the servers' versions. */
  singleUrl: string;
  singleVersion: string;
  clusterVersion: string;
  /** Nodes of the cluster: primaries and replicas. */
  primaries: number;
  replicas: number;
  /** Seconds to start the cluster (until every node agrees). */
  startSeconds: number;
  /** The port of the primary that holds the uncontended mutex. */
  directPort: number;
  ping?: ClusterCell;
  get?: ClusterCell;
  idlePing?: ClusterCell;
  uncontended?: ClusterCell;
  handoff?: ClusterCell;
  spread?: ClusterCell;
  /**
   * Wake channels of the spread cell per primary (`PUBSUB SHARDCHANNELS`
   * on each, mid-cell): both clients' hubs, one channel per name each.
   */
  shardChannels: number[];
  seconds: number;
}
