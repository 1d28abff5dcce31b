/**
 * Options shared by the two events, validated and defaulted in one place.
 *
 * @module
 */
import { checkName, DEFAULT_PREFIX, keyBase } from "../locks/keys.ts";
import { checkInteger, checkOptionsObject } from "../_internal/validate.ts";

/** Options of `ManualResetEvent` and `AutoResetEvent`. */
export interface EventOptions {
  /**
   * Prefix of every Redis key of the event.
   * @default {"redsync"}
   */
  prefix?: string;
  /**
   * How long a set state (manual) or a pending signal (auto) is kept in
   * Redis after the last `set()`, in ms.
   * @default {86400000} (one day)
   */
  ttlMs?: number;
  /**
   * A waiter that stops refreshing (it crashed) is forgotten after this many
   * ms; live waiters refresh every third of it (manual-reset only).
   * @default {10000}
   */
  waiterTtlMs?: number;
  /**
   * Most signals kept pending while nobody waits (auto-reset only); a
   * `set()` beyond it resolves `false` and adds nothing.
   * @default {10000}
   */
  maxPending?: number;
}

/** {@linkcode EventOptions} with every default applied, and the key base. */
export interface ResolvedEventOptions extends Required<EventOptions> {
  base: string;
}

/** Validates the name and options of an event; TypeError/RangeError otherwise. */
export function resolveEventOptions(
  action: string,
  name: string,
  options: EventOptions = {},
): ResolvedEventOptions {
  checkName(action, name);
  checkOptionsObject(action, options);
  const {
    prefix = DEFAULT_PREFIX,
    ttlMs = 86_400_000,
    waiterTtlMs = 10_000,
    maxPending = 10_000,
  } = options;
  if (typeof prefix !== "string") {
    throw new TypeError(
      `Cannot ${action} as 'prefix' must be a string: current type is ${typeof prefix}`,
    );
  }
  checkInteger(action, "ttlMs", ttlMs, 10, 2 ** 31 - 1);
  checkInteger(action, "waiterTtlMs", waiterTtlMs, 30, 2 ** 31 - 1);
  checkInteger(action, "maxPending", maxPending, 1, 1_000_000);
  return {
    prefix,
    ttlMs,
    waiterTtlMs,
    maxPending,
    base: keyBase(prefix, name),
  };
}
