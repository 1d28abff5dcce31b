/**
 * The types of the runtimes cell: how much work it does, and what each
 * runtime measured.
 *
 * @module
 */
import {
  DEFAULT_HOLDERS_BENCH,
  type HoldersBenchOptions,
} from "../holders/types.ts";
import { type RuntimeKey, RUNTIMES } from "./process.ts";
import type { OpenReply, Step } from "./protocol.ts";

/** How much work the cell does. */
export interface RuntimesBenchOptions {
  runtimes: RuntimeKey[];
  /** Rounds; in each, every runtime runs every step, order alternating. */
  rounds: number;
  /** Per runtime and round. */
  pings: number;
  idleSamples: number;
  settleMs: number;
  /** Contender ids of `defaultContenders()` for the uncontended cycle. */
  uncontended: string[];
  uncontendedWarmup: number;
  uncontendedCycles: number;
  /** Our blocking Mutex hand-off (`ours-blocking`) at these W. */
  handoffWorkers: number[];
  handoffWarmup: number;
  handoffRounds: number;
  handoffCellMs: number;
  /**
   * The many-holders cell; per round, `cycles` timed and `statCycles` for
   * the server time, on each semaphore.
   */
  holders: HoldersBenchOptions;
}

/** About a minute on 2 cores. */
export const DEFAULT_RUNTIMES_BENCH: RuntimesBenchOptions = {
  runtimes: [...RUNTIMES],
  rounds: 4,
  pings: 2_000,
  idleSamples: 40,
  settleMs: 5,
  uncontended: [
    "ours-mutex",
    "rs-mutex",
    "redlock",
    "sesame",
    "ours-sem",
    "rs-sem",
  ],
  uncontendedWarmup: 200,
  uncontendedCycles: 500,
  handoffWorkers: [2, 8],
  handoffWarmup: 5,
  handoffRounds: 100,
  handoffCellMs: 5_000,
  holders: {
    ...DEFAULT_HOLDERS_BENCH,
    warmup: 200,
    cycles: 500,
    statCycles: 250,
  },
};

/** `BENCH_QUICK=1`: two short rounds. */
export const QUICK_RUNTIMES_BENCH: RuntimesBenchOptions = {
  ...DEFAULT_RUNTIMES_BENCH,
  rounds: 2,
  pings: 500,
  idleSamples: 20,
  uncontendedWarmup: 100,
  uncontendedCycles: 150,
  handoffRounds: 30,
  holders: {
    ...DEFAULT_HOLDERS_BENCH,
    warmup: 100,
    cycles: 150,
    statCycles: 100,
  },
};

/** One measurement of one runtime, over all rounds. */
export interface RuntimeCell {
  count: number;
  /** ms */
  p50: number;
  p99: number;
  /** Our commands per cycle (acquisition for hand-offs); NaN for floors. */
  commandsPerOp: number;
  redisUsPerOp: number;
  /** p50 of each round, ms. */
  roundP50: number[];
  /** Hand-offs: share that went to the worker waiting longest. */
  toOldest?: number;
}

/** One runtime's figures. */
export interface RuntimeSide {
  key: RuntimeKey;
  /** "Deno 2.9.6", "Bun 1.4.5"; the key when it never answered. */
  runtime: string;
  /** How it was started. */
  command: string;
  /** Why it stopped early or never ran. */
  error?: string;
  open?: OpenReply;
  cells: Record<string, RuntimeCell>;
  keysAfterRelease: number;
}

/** A measurement: its key, its label, and the step that takes it. */
export interface Measurement {
  key: string;
  label: string;
  kind: "floor" | "uncontended" | "handoff" | "holders";
  step: Step;
  /** Rows taken from fields of the reply instead (the holders step). */
  parts?: { key: string; label: string; field: "small" | "large" }[];
}

/** Everything the runtimes cell measured. */
export interface RuntimesBenchResult {
  options: RuntimesBenchOptions;
  measurements: Omit<Measurement, "step">[];
  sides: RuntimeSide[];
  seconds: number;
}
