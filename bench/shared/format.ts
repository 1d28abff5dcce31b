/**
 * Number and text formatting of the bench reports and progress lines.
 *
 * @module
 */

/** Milliseconds with 3 significant-ish digits; "n/a" when not finite. */
export function msText(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  if (value >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

/** `value` with `digits` decimals; "n/a" when not finite. */
export function num(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

/** A rounded integer with thousands separators; "n/a" when not finite. */
export function int(value: number): string {
  return Number.isFinite(value)
    ? Math.round(value).toLocaleString("en-US")
    : "n/a";
}

/** Whole microseconds from ms; "n/a" when missing or not finite. */
export function us(ms: number | undefined): string {
  return ms !== undefined && Number.isFinite(ms)
    ? (ms * 1_000).toFixed(0)
    : "n/a";
}

/** Microseconds from ms, one decimal below 100 us; "n/a" when not finite. */
export function usFine(ms: number): string {
  if (!Number.isFinite(ms)) return "n/a";
  const value = ms * 1_000;
  return value < 100 ? value.toFixed(1) : value.toFixed(0);
}

/** A target's verdict. */
export function yes(ok: boolean): string {
  return ok ? "**met**" : "**missed**";
}

/** Text for a markdown table cell (`|` escaped). */
export function cellText(text: string): string {
  return text.replaceAll("|", "\\|");
}

/** The message of a thrown value. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
