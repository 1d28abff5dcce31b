/**
 * What a cell is: one measurement of the bench, with its types, its run and
 * its report together. The registry (`cells/mod.ts`) lists every cell; a
 * section (`sections.ts`) is the cells of one name, run in the registry's
 * order against one server and reported as one chapter of
 * `results/latest.md`.
 *
 * @module
 */

/** The chapters of `results/latest.md`, in order (`BENCH_SECTIONS`). */
export const SECTION_NAMES = [
  "client",
  "locks",
  "runtimes",
  "cluster",
  "durability",
] as const;
/** One of {@linkcode SECTION_NAMES}. */
export type SectionName = typeof SECTION_NAMES[number];

/**
 * The ids `BENCH_LOCKS_ONLY` names, comma-separated: an entry keeps every
 * id equal to it or starting with it (`ours-shared`, `rs-`, `redlock`).
 */
export class Selector {
  constructor(readonly entries: readonly string[]) {}

  matches(id: string): boolean {
    return this.entries.some((entry) => id.startsWith(entry));
  }
}

/** What a cell's run is given. */
export interface CellContext<O> {
  /** The bench's Redis, `redis://127.0.0.1:PORT` for the private server. */
  url: string;
  /** Prints one progress line, prefixed with the section's name. */
  log(line: string): void;
  /** `options.full`, or `options.quick` with `BENCH_QUICK=1`. */
  options: O;
  /** `BENCH_LOCKS_ONLY`, when set (the libraries cell keeps its contenders). */
  only?: Selector;
}

/**
 * Figures of the section's floors (the libraries cell measures them), for
 * the reports of the other cells of the section. Absent when a cell runs
 * alone.
 */
export interface Floors {
  /** Our sequential PING p50, us. */
  pingUs: number;
  /** An `RPUSH` waking another client's `BLPOP` after the idle settle, p50, us. */
  idleWakeUs: number;
  /**
   * A `PUBLISH` reaching a connection `SUBSCRIBE`d to its channel after the
   * idle settle, p50, us (the mechanism of our wake-ups).
   */
  idlePublishUs: number;
}

/** What the cells of a section share when they are reported. */
export interface Page {
  floors?: Floors;
}

/** A cell's report. */
export interface Rendered {
  /** Bullets for the section's "Achieved against the targets" (locks). */
  targets?: string[];
  /** Its subsection (or, alone in its section, its whole chapter). */
  markdown: string;
  /** Files written beside `results/latest.md`, by name (the hand-off chart). */
  files?: Record<string, string>;
}

/** One measurement: its id, its section, its options, its run and report. */
export interface Cell<O, R> {
  /** Stable id: `BENCH_LOCKS_ONLY`, `bench/cell.ts <id>`, `BENCH_LOCKS_JSON`. */
  id: string;
  section: SectionName;
  /** What it measures, in one line. */
  about: string;
  /** How much work it does: a full run, and `BENCH_QUICK=1`. */
  options: { full: O; quick: O };
  /**
   * Runs whatever `BENCH_LOCKS_ONLY` names: the libraries cell, whose floors
   * the other cells are judged against (the selector filters its contenders).
   */
  always?: boolean;
  /** More ids `BENCH_LOCKS_ONLY` may name inside this cell (contenders). */
  ids?: readonly string[];
  /** Measures; throws (the bench exits 1) when a lock broke its limit. */
  run(context: CellContext<O>): Promise<R>;
  /** The report of `result`; `page` holds what other cells of the section measured. */
  render(result: R, page: Page): Rendered;
  /** What `result` gives the page of its section (the floors). */
  page?(result: R): Page;
}

/** Any cell, as the registry holds them (its methods take their own types). */
export type AnyCell = Cell<unknown, unknown>;
