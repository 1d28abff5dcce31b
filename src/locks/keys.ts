/**
 * The key layout of the primitives, in one place: the `prefix:{name}` base
 * (the braces make `name` the Redis Cluster hash tag, so every key of one
 * primitive lives in one slot), name checks, and the keys the lock scripts
 * take. Used by the engine, `inspect`, the events and the CLI.
 *
 * @module
 */

/** Longest accepted name, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 1024;

/**
 * The part every key of one primitive starts with: `prefix:{name}`. The
 * braces make `name` the Redis Cluster hash tag, so all keys of a primitive
 * share one slot.
 */
export function keyBase(prefix: string, name: string): string {
  return `${prefix}${prefix ? ":" : ""}{${name}}`;
}

/** Throws TypeError/RangeError for a bad primitive name. */
export function checkName(action: string, name: unknown): string {
  if (typeof name !== "string") {
    throw new TypeError(
      `Cannot ${action} as 'name' must be a string: current type is ${typeof name}`,
    );
  }
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new RangeError(
      `Cannot ${action} as 'name' must have 1..${MAX_NAME_LENGTH} characters: current length is ${name.length}`,
    );
  }
  return name;
}

/** Suffixes of the seven keys every lock script takes, in KEYS order. */
export const SCRIPT_KEYS = [
  "holders",
  "owners",
  "queue",
  "waiters",
  "wants",
  "meta",
  "fence",
] as const;

/** Every key suffix a lock (mutex or semaphore) may have. */
export const LOCK_KEY_SUFFIXES: ReadonlySet<string> = new Set(SCRIPT_KEYS);

/** The Redis keys of one lock primitive. */
export interface LockKeys {
  /** The seven keys of {@linkcode SCRIPT_KEYS}, in order. */
  script: string[];
  /** The semaphore's definition (`meta`). */
  meta: string;
  /** Prefix of the wake lists: `wakePrefix + hubId` (see `WakeHub`). */
  wakePrefix: string;
  /** `prefix:{name}`. */
  base: string;
}

/** The Redis keys of one primitive; they all share the hash tag `{name}`. */
export function keysOf(prefix: string, name: string): LockKeys {
  const base = keyBase(prefix, name);
  const script = SCRIPT_KEYS.map((suffix) => `${base}:${suffix}`);
  return { script, meta: script[5], wakePrefix: `${base}:wake:`, base };
}

/** The ZSET listing contended primitives under `prefix`. */
export function contendedKey(prefix: string): string {
  return `${prefix}${prefix ? ":" : ""}contended`;
}
