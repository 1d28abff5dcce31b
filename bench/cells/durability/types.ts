/**
 * The types of the durability cell: how much work it does, its two modes,
 * and what it measured.
 *
 * @module
 */
import type { DurabilityOptions } from "../../../mod.ts";
import {
  DEFAULT_INTERLEAVED_BENCH,
  type InterleavedBenchOptions,
  QUICK_INTERLEAVED_BENCH,
} from "../../shared/ab/options.ts";
import type { Compared } from "../../shared/ab/sampler.ts";

/** How much work the durability cells do. */
export interface DurabilityBenchOptions extends InterleavedBenchOptions {
  /** `SET` (+ `WAIT`) samples per mode and round, after a warm-up. */
  writes: number;
  writeWarmup: number;
  /** The setting under test. */
  durability: DurabilityOptions;
}

/** About 40 s on 2 cores. */
export const DEFAULT_DURABILITY_BENCH: DurabilityBenchOptions = {
  ...DEFAULT_INTERLEAVED_BENCH,
  writes: 1_000,
  writeWarmup: 200,
  durability: { replicas: 1 },
};

/** `BENCH_QUICK=1`: two short rounds, about 10 s. */
export const QUICK_DURABILITY_BENCH: DurabilityBenchOptions = {
  ...DEFAULT_DURABILITY_BENCH,
  ...QUICK_INTERLEAVED_BENCH,
  writes: 200,
  writeWarmup: 50,
};

/** Which mutexes: with `durability`, or without. */
export type Mode = "without" | "with";
export const MODES: readonly Mode[] = ["without", "with"];

/**
 * One measurement in both modes: every sample of every round, ms. The
 * hand-off's own `floor`: a `PING` from the releaser's client after
 * `settleMs` of idling, `settleMs` before each measured release. `capped`:
 * some round stopped at `cellMs` before its hand-offs.
 */
export type DurabilityCell = Compared<Mode>;

/** `WAIT` calls and grants over the measured parts of a cell ("with"). */
export interface WaitCount {
  waits: number;
  grants: number;
}

/** Everything the durability cell measured. */
export interface DurabilityBenchResult {
  options: DurabilityBenchOptions;
  /** Set when the servers could not be set up: nothing was measured. */
  skipped?: string;
  primaryUrl: string;
  replicaUrl: string;
  version: string;
  /** Seconds from starting the primary to the replica being online. */
  startSeconds: number;
  ping?: DurabilityCell;
  /** "without": `SET`; "with": `SET` + `WAIT` on one connection. */
  write?: DurabilityCell;
  idlePing?: DurabilityCell;
  uncontended?: DurabilityCell;
  handoff?: DurabilityCell;
  /** `WAIT` per grant of the "with" mutexes, per lock cell. */
  waits: { uncontended: WaitCount; handoff: WaitCount };
  /** `WAIT` replies in the write cell below the replicas asked for. */
  writeShort: number;
  /** `shortfall` events of the "with" mutexes, whole run. */
  shortfalls: number;
  seconds: number;
}
