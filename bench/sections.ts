/**
 * The sections of `deno task bench`: the chapters of `results/latest.md`,
 * each the cells of one section name run in the registry's order against
 * one server, and the environment that picks them (`BENCH_SECTIONS`,
 * `BENCH_QUICK`, `BENCH_LOCKS_ONLY`).
 *
 * @module
 */
import process from "node:process";
import { CELLS } from "./cells/mod.ts";
import {
  type AnyCell,
  type Page,
  type Rendered,
  SECTION_NAMES,
  type SectionName,
  Selector,
} from "./cells/types.ts";
import { VERSIONS } from "./shared/npm.ts";

/** A chapter: its cells' reports under a title of its own, or as they are. */
export interface Section {
  name: SectionName;
  /**
   * A title, an intro and one list of targets over the section's cells,
   * then each cell's subsection; without it, each cell's chapter as is.
   */
  heading?: { title: string; intro(seconds: number): string };
}

/** Every section, in report order. */
export const SECTIONS: readonly Section[] = SECTION_NAMES.map((name) =>
  name === "locks"
    ? {
      name,
      heading: {
        title: "## Locks: hand-off, contention, fairness",
        intro: (seconds) =>
          `All locks run in this process, every worker on a connection of its own (ours: its own \`RedisClient\`, whose wake hub connection wakes it; others: their own ioredis ${VERSIONS.ioredis} client), except in the shared-client cells, where all waiters share one client. The section took ${
            seconds.toFixed(0)
          } s.`,
      },
    }
    : { name }
);

/** `BENCH_QUICK=1`: a smoke run, a few seconds per measurement. */
export function quickFromEnv(): boolean {
  return process.env.BENCH_QUICK === "1";
}

/**
 * `BENCH_SECTIONS=locks` (comma-separated names) runs only those sections;
 * the report then holds only them.
 */
export function sectionsFromEnv(): Section[] {
  const wanted = process.env.BENCH_SECTIONS?.split(",").map((s) => s.trim())
    .filter((s) => s !== "");
  if (!wanted || wanted.length === 0) return [...SECTIONS];
  const unknown = wanted.filter((w) => !SECTIONS.some((s) => s.name === w));
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_SECTIONS: unknown section(s) ${unknown.join(", ")}; known: ${
        SECTIONS.map((s) => s.name).join(", ")
      }`,
    );
  }
  return SECTIONS.filter((s) => wanted.includes(s.name));
}

/** The ids `BENCH_LOCKS_ONLY` may name: the lock cells and their contenders. */
export function lockIds(): string[] {
  return CELLS.filter((c) => c.section === "locks").flatMap((c) => [
    c.id,
    ...c.ids ?? [],
  ]);
}

/**
 * `BENCH_LOCKS_ONLY=ours-shared,rs-` keeps, in the lock section, the cells
 * and the contenders whose id is one of the entries or starts with one.
 * Throws on an entry that names nothing, and on a regular expression (what
 * the variable took before).
 */
export function selectorFromEnv(): Selector | undefined {
  const raw = process.env.BENCH_LOCKS_ONLY;
  if (raw === undefined || raw.trim() === "") return undefined;
  const entries = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const known = lockIds();
  for (const entry of entries) {
    if (/[|^$*+?()[\]{}\\]/.test(entry)) {
      throw new Error(
        `BENCH_LOCKS_ONLY takes ids or id prefixes separated by commas, not a regular expression: ${entry}`,
      );
    }
    if (!known.some((id) => id.startsWith(entry))) {
      throw new Error(
        `BENCH_LOCKS_ONLY: ${entry} names no cell or contender; known: ${
          known.join(", ")
        }`,
      );
    }
  }
  return new Selector(entries);
}

/** The cells of `section` that run, in registry order. */
export function cellsOf(section: Section, only?: Selector): AnyCell[] {
  return CELLS.filter((cell) =>
    cell.section === section.name &&
    (section.name !== "locks" || only === undefined || cell.always ||
      only.matches(cell.id))
  );
}

/** A cell and what it measured, with its run time. */
export interface Measured {
  cell: AnyCell;
  result: unknown;
  seconds: number;
}

/** What a section's cells measured, reported. */
export interface SectionReport {
  markdown: string;
  /** Files beside `results/latest.md` (the hand-off chart). */
  files: Record<string, string>;
}

/** Runs `cells` in order; each gets `url`, `log` and its options. */
export async function runCells(
  cells: readonly AnyCell[],
  context: {
    url: string;
    log(line: string): void;
    quick: boolean;
    only?: Selector;
  },
): Promise<Measured[]> {
  const measured: Measured[] = [];
  for (const cell of cells) {
    const started = performance.now();
    const result = await cell.run({
      url: context.url,
      log: context.log,
      options: context.quick ? cell.options.quick : cell.options.full,
      only: context.only,
    });
    measured.push({
      cell,
      result,
      seconds: (performance.now() - started) / 1_000,
    });
  }
  return measured;
}

/** The reports of `measured`, each given the page they make together. */
export function renderCells(measured: readonly Measured[]): Rendered[] {
  const page: Page = Object.assign(
    {},
    ...measured.map(({ cell, result }) => cell.page?.(result) ?? {}),
  );
  return measured.map(({ cell, result }) => cell.render(result, page));
}

/** The chapter of `section` from its cells' measurements. */
export function reportSection(
  section: Section,
  measured: readonly Measured[],
): SectionReport {
  const rendered = renderCells(measured);
  const bodies = rendered.map((r) => r.markdown).join("\n\n");
  const files = Object.assign({}, ...rendered.map((r) => r.files ?? {}));
  if (section.heading === undefined) return { markdown: bodies, files };
  const seconds = measured.reduce((total, m) => total + m.seconds, 0);
  const markdown = [
    section.heading.title,
    "",
    section.heading.intro(seconds),
    "",
    "### Achieved against the targets",
    "",
    ...rendered.flatMap((r) => r.targets ?? []),
    "",
    bodies,
  ].join("\n");
  return { markdown, files };
}
