/**
 * The failover measure's scenario and runs, shared by its entry
 * (`main.ts`) and its report (`report.ts`).
 *
 * @module
 */
import type { FailoverRunResult } from "../../harness/failover.ts";

/** The scenario, as `runFailover()`'s defaults (passed explicitly). */
export const SCENARIO = {
  permits: 4,
  workers: 12,
  holdMs: [1_000, 6_000] as [number, number],
  warmupMs: 2_000,
  frozenMs: 2_500,
  afterMs: 4_000,
  leaseMs: 3_000,
};
/** The setting under test (`runFailover()` adds `timeoutMs: 100`). */
export const DURABILITY = { replicas: 1 };
/** `WAIT`'s timeout that `runFailover()` gives the durability setting. */
export const TIMEOUT_MS = 100;

export type Mode = "without" | "with";
export const MODES: readonly Mode[] = ["without", "with"];

export interface Run {
  index: number;
  mode: Mode;
  seconds: number;
  /** Undefined when the run threw. */
  result?: FailoverRunResult;
  /** The run's exception, or its result's first error. */
  failure?: string;
}

/** Where the failover happens. */
export type Topology = "sentinel" | "cluster";
