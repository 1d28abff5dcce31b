/**
 * What the runtimes cell's parent (`mod.ts`) and each child process
 * (`child.ts`) say to each other: one JSON step per line on the child's
 * stdin, one JSON reply per line on its stdout.
 *
 * @module
 */
import type { CycleBatch, HoldersBenchOptions } from "../holders/types.ts";

/** A step the parent sends. */
export type Step =
  | {
    op: "open";
    uncontended: string[];
    uncontendedWarmup: number;
    holders?: HoldersBenchOptions;
  }
  | { op: "ping"; count: number }
  | { op: "wake"; count: number; settleMs: number }
  | { op: "uncontended"; id: string; count: number }
  | {
    op: "handoff";
    id: string;
    workers: number;
    warmup: number;
    rounds: number;
    settleMs: number;
    cellMs: number;
  }
  | {
    op: "holders";
    count: number;
    statCycles: number;
    first: "small" | "large";
  }
  | { op: "close" };

/** What `open` answers. */
export interface OpenReply {
  /** "Deno 2.9.6", "Bun 1.4.5", ... */
  runtime: string;
  fillSeconds: number;
  fillRedisUsPerAcquire: number;
}

/** What a measuring step answers: samples (ms) and our commands' stats. */
export interface StepReply extends CycleBatch {
  /** Hand-off only: acquisitions in the cell, and hand-offs to the oldest. */
  acquisitions?: number;
  toOldest?: number;
}

/** What `close` answers: the many-holders cell's keys left. */
export interface CloseReply {
  keysAfterRelease: number;
}
