/**
 * Argument checks shared by every public entry point: they throw
 * `TypeError`/`RangeError` with messages naming the argument and its value.
 *
 * @module
 */

/** Throws a RangeError naming `field` unless `value` is an integer in min..max. */
export function checkInteger(
  action: string,
  field: string,
  value: unknown,
  min: number,
  max: number,
): number {
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < min ||
    value > max
  ) {
    throw new RangeError(
      `Cannot ${action} as '${field}' must be an integer in ${min}..${max}: current value is ${
        typeof value === "string" ? JSON.stringify(value) : String(value)
      }`,
    );
  }
  return value;
}

/** Throws a RangeError naming `field` unless `value` is a number in min..max. */
export function checkNumber(
  action: string,
  field: string,
  value: unknown,
  min: number,
  max: number,
): number {
  if (
    typeof value !== "number" || Number.isNaN(value) || value < min ||
    value > max
  ) {
    throw new RangeError(
      `Cannot ${action} as '${field}' must be a number in ${min}..${max}: current value is ${
        String(value)
      }`,
    );
  }
  return value;
}

/** Throws a TypeError unless `options` is an object. */
export function checkOptionsObject(action: string, options: unknown): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot ${action} as 'options' must be an object: current value is ${
        String(options)
      }`,
    );
  }
}

/**
 * Throws a TypeError unless each field given is an object or `undefined`
 * (hooks such as `logger` and `metrics`).
 */
export function checkOptionalObjects(
  action: string,
  fields: Record<string, unknown>,
): void {
  for (const [field, value] of Object.entries(fields)) {
    if (value !== undefined && (typeof value !== "object" || value === null)) {
      throw new TypeError(
        `Cannot ${action} as '${field}' must be an object: current value is ${
          String(value)
        }`,
      );
    }
  }
}

/**
 * Checks `runExclusive`'s `wait`: `"forever"`, `"skip"` or an integer number
 * of milliseconds; a `TypeError` (a `RangeError` for a number out of range)
 * lists the accepted values.
 */
export function checkWait(
  action: string,
  wait: unknown,
): "forever" | "skip" | number {
  if (wait === "forever" || wait === "skip") return wait;
  if (
    typeof wait === "number" && Number.isInteger(wait) && wait >= 0 &&
    wait <= 2 ** 31 - 1
  ) {
    return wait;
  }
  const message =
    `Cannot ${action} as 'wait' must be "forever", "skip" or a number of milliseconds (an integer in 0..2147483647): current value is ${
      typeof wait === "string" ? JSON.stringify(wait) : String(wait)
    }`;
  throw typeof wait === "number"
    ? new RangeError(message)
    : new TypeError(message);
}
