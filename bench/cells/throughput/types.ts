/**
 * The throughput cell's options and figures.
 *
 * @module
 */

/**
 * The locks it compares, each at its defaults: ids of the catalogue's
 * default contenders (`shared/catalog.ts`), mutexes then Semaphore(4)s.
 */
export const LIBRARIES = [
  "ours-mutex",
  "rs-mutex",
  "redlock",
  "sesame",
  "ours-sem",
  "rs-sem",
] as const;
export type Library = typeof LIBRARIES[number];

/** How much work the cell does. */
export interface ThroughputOptions {
  /** Libraries measured (in the order of {@linkcode LIBRARIES}). */
  libraries: Library[];
  /**
   * The "one client" runs: one connection in one process with this many
   * loops on distinct names (1: one cycle at a time; 64: pipelined).
   */
  loopsOnOneClient: number[];
  /** Client counts of the saturation runs, spread over two processes. */
  clients: number[];
  /** Loops per client in the saturation runs, each on a name of its own. */
  loopsPerClient: number;
  /** Length of one measured run. */
  durationMs: number;
  /** Rounds; the libraries' order rotates from one round to the next. */
  rounds: number;
}

/** One run of one library: one row of the tables. */
export interface ThroughputRun {
  library: Library;
  /** Connections, over `processes` processes. */
  clients: number;
  processes: number;
  /** Loops in all (each on a name of its own). */
  loops: number;
  /** Lock cycles (acquire + release) per second, all processes. */
  cyclesPerS: number;
  /** Redis main-thread CPU (user + system) per cycle, us. */
  redisCpuUs: number;
  /** Script or function time per cycle (`INFO commandstats` usec), us. */
  scriptUs: number;
  /** Commands per cycle, as Redis counts them (scripts' own calls included). */
  callsPerCycle: number;
  /** Redis main-thread CPU over the run's wall time: 1 = one core saturated. */
  redisBusy: number;
}

/** Every run, every round. */
export interface ThroughputResult {
  runs: ThroughputRun[];
  options: ThroughputOptions;
}
