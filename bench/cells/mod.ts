/**
 * The registry: every cell of `deno task bench`, in the order they run and
 * are reported (a section's cells keep this order). To add a cell, write it
 * (a `Cell` from `types.ts`, in a file or a folder of its own) and list it
 * here.
 *
 * @module
 */
import { breakdownCell } from "./breakdown/mod.ts";
import { clientCell } from "./client/mod.ts";
import { clusterCell } from "./cluster/mod.ts";
import { durabilityCell } from "./durability/mod.ts";
import { holdersCell } from "./holders/mod.ts";
import { inflightCell } from "./inflight.ts";
import { librariesCell } from "./libraries/mod.ts";
import { processesCell } from "./processes/mod.ts";
import { runtimesCell } from "./runtimes/mod.ts";
import { sharedClientCell } from "./shared_client/mod.ts";
import { throughputCell } from "./throughput/mod.ts";
import type { AnyCell } from "./types.ts";

/** Every cell, in run order. */
export const CELLS: readonly AnyCell[] = [
  clientCell,
  // The lock section: the libraries first (their floors are the section's).
  librariesCell,
  throughputCell,
  holdersCell,
  breakdownCell,
  processesCell,
  inflightCell,
  sharedClientCell,
  runtimesCell,
  clusterCell,
  durabilityCell,
];
