/**
 * Number formatting of the bench reports.
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
