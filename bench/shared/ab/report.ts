/**
 * Pieces of the reports of the interleaved comparisons (the cluster and
 * the durability cells): side `b` of a measurement against side `a` (the cluster client against the single-node one,
 * with durability against without), in the targets and in the table.
 *
 * @module
 */
import { int, num, usFine as us, yes } from "../format.ts";
import type { Summary } from "../stats.ts";
import type { Compared } from "./sampler.ts";

/** The closing paragraph: the holders every hand-off counted. */
const CORRECTNESS =
  "**Correctness.** Every hand-off counts the holders of its name (incremented when `acquire()` resolves, decremented before `release()` is called); two at once fails the benchmark with a non-zero exit. None happened in this run.";

/** `b` over `a`, at `key`. */
export function ratio<K extends string>(
  cell: Compared<K>,
  a: K,
  b: K,
  key: "p50" | "p99" = "p50",
): number {
  return (cell[b] as Summary)[key] / (cell[a] as Summary)[key];
}

/** The p50 of each round, us: "min – max" (one alone; none: ""). */
function rounds(values: number[]): string {
  if (values.length === 0) return "";
  if (values.length === 1) return us(values[0]);
  return `${us(Math.min(...values))} – ${us(Math.max(...values))}`;
}

/**
 * The floors' bullet: `lead`, then the PING cell's `b / a` p50 ratio with
 * both p50s, and that of each cell of `more` that was measured.
 */
export function floorsLine<K extends string>(
  lead: string,
  ping: Compared<K>,
  a: K,
  b: K,
  more: [what: string, cell: Compared<K> | undefined][],
): string {
  const [sa, sb] = [ping[a] as Summary, ping[b] as Summary];
  return `${lead}${num(ratio(ping, a, b), 2)}x (${us(sb.p50)} against ${
    us(sa.p50)
  } us)${
    more.map(([what, cell]) =>
      cell ? `, ${what} ${num(ratio(cell, a, b), 2)}x` : ""
    ).join("")
  }.`;
}

/** A measured section below its title. */
export interface SectionParts {
  /** The opening paragraph: what was measured, where, how long it took. */
  intro: string;
  /** The bullets under "Achieved against the targets". */
  targets: string[];
  /** Under "Measurements": how each was taken, then the table. */
  measurements: string[];
}

/**
 * A section's markdown: its title, then its `parts(result)` and the
 * correctness paragraph, or, when `result.skipped`, why nothing was
 * measured.
 */
export function section<T extends { skipped?: string }>(
  title: string,
  result: T,
  parts: (result: T) => SectionParts,
): string {
  if (result.skipped) {
    return [title, "", `Not measured in this run: ${result.skipped}.`]
      .join("\n");
  }
  const { intro, targets, measurements } = parts(result);
  return [
    title,
    "",
    intro,
    "",
    "### Achieved against the targets",
    "",
    ...targets,
    "",
    "### Measurements",
    "",
    ...measurements,
    "",
    CORRECTNESS,
  ].join("\n");
}

/**
 * A target's line after its text: met when `b`'s p50 is within `target`
 * times `a`'s; both p50s, the ratio, and the same at p99.
 */
export function verdict<K extends string>(
  cell: Compared<K>,
  a: K,
  b: K,
  target: number,
): string {
  const p50 = ratio(cell, a, b, "p50");
  const [sa, sb] = [cell[a] as Summary, cell[b] as Summary];
  return `${yes(p50 <= target)}: ${us(sb.p50)} us against ${us(sa.p50)} us, **${
    num(p50, 2)
  }x** (p99 ${us(sb.p99)} against ${us(sa.p99)} us, ${
    num(ratio(cell, a, b, "p99"), 2)
  }x)`;
}

/**
 * A table row: `label`, p50 / p99 of `a` and of `b`, `b / a` at p50 and
 * p99, the `middle` columns, the p50 of each round of `a` and of `b`, and
 * the samples per side.
 */
export function row<K extends string>(
  label: string,
  cell: Compared<K>,
  a: K,
  b: K,
  middle: string[],
): string {
  const [sa, sb] = [cell[a] as Summary, cell[b] as Summary];
  const roundP50 = cell.roundP50 as Record<K, number[]>;
  return `| ${label}${cell.capped ? " (time limit)" : ""} | ${us(sa.p50)} / ${
    us(sa.p99)
  } | ${us(sb.p50)} / ${us(sb.p99)} | ${num(ratio(cell, a, b, "p50"), 2)}, ${
    num(ratio(cell, a, b, "p99"), 2)
  } | ${middle.join(" | ")} | ${rounds(roundP50[a])} | ${
    rounds(roundP50[b])
  } | ${int(Math.min(sa.count, sb.count))} |`;
}
