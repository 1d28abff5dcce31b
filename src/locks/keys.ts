/**
 * The key layout of the primitives, in one place: the base every key of one
 * primitive starts with (`prefix:{name}`, whose braces make `name` the Redis
 * Cluster hash tag, so every key of one primitive lives in one slot; see
 * {@linkcode keyBase} for names that start with `}`), name checks, the keys
 * the lock scripts take, and {@linkcode parseKey}, which reads a primitive's
 * name back out of one of its keys. Used by the engine, `inspect`, the
 * events and the CLI.
 *
 * @module
 */
import { internalsOf, type RedisClient } from "../client/client.ts";

/** Longest accepted name, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 1024;

/** The key prefix of every primitive whose options give none. */
export const DEFAULT_PREFIX = "redsync";

/**
 * The part every key of one primitive starts with. With `Q` = `prefix:` (or
 * nothing when the prefix is empty):
 *
 * - `Q{name}` for a name that does not start with `}` (the layout since the
 *   first release, unchanged): Redis Cluster hashes only the hash tag, the
 *   text between the first `{` and the first `}` after it, so all keys of
 *   the primitive share one slot;
 * - `Q{~}name~` for a name that starts with `}`: in `Q{}...}` the tag would
 *   be empty, and Redis would hash each whole key (each key of the
 *   primitive in a slot of its own: CROSSSLOT). Here the tag is `~`, so
 *   every such primitive lives in the slot of `~` (one slot for all of
 *   them: such names are rare).
 *
 * (A prefix with a `{` of its own moves the tag into the prefix; it still
 * ends within the base, so the keys of one primitive still share a slot,
 * unless the prefix holds an empty `{}`.)
 *
 * No two keys collide, within one prefix. Every key is `base:s`, where the
 * suffix `s` is one of the words `holders owners queue waiters wants meta
 * fence` (locks), `state listeners woken` (ManualResetEvent), `signals
 * takers heartbeats granted` (AutoResetEvent), or `wake:<hubId>` (wake
 * lists and channels; a hub id is base-36 digits, with a `~` first for a
 * cluster hub): `s` has no `}` and no `~:` (the grammar
 * {@linkcode parseKey} checks). The other key under a prefix,
 * `Q` + `contended`, has no `{` after `Q`. {@linkcode parseKey} gives back
 * `(name, s)` from every key `base:s`, so two different `(name, s)` can
 * never make one key:
 *
 * 1. `Q{name}:s`: `s` has no `}`, so the last `}` of the key is the one
 *    after `name`, followed by `:s`: step 1 of `parseKey` finds `name` and
 *    `s`.
 * 2. `Q{~}name~:s` (`name` starts with `}`): all of `~:s` comes after the
 *    key's last `}` (the one of `{~}` or one of `name`; `s` has none). Step
 *    1 would need the text after that `}` to be `:s'` with `s'` in the
 *    grammar, ending with `~:s`: as long as `~:s`, the first characters
 *    differ (`:` and `~`); longer, `s'` would contain `~:`. Neither can be,
 *    so step 1 rejects the key, and step 2 takes the last `~:` of the key:
 *    `s` holds none, so it is the one after `name`.
 */
export function keyBase(prefix: string, name: string): string {
  const start = `${prefix}${prefix ? ":" : ""}`;
  return name.startsWith("}") ? `${start}{~}${name}~` : `${start}{${name}}`;
}

/**
 * What may follow `base:` in a key: a word, or `wake:`/`grant:` and an id
 * (`grant:` lists were written by releases before the wake hub). No `}`,
 * and the only `:` follows `wake` or `grant`, so never `~:`.
 */
const KEY_SUFFIX = /^(?:[a-z-]+|(?:wake|grant):[^:}]+)$/;

/** A key of a primitive, read back by {@linkcode parseKey}. */
export interface ParsedKey {
  /** The primitive's name. */
  name: string;
  /** What follows `base:`: `holders`, `meta`, `wake:<hubId>`, ... */
  suffix: string;
}

/**
 * The name and suffix of `key`, a key of a primitive under `prefix` (see
 * {@linkcode keyBase}), or `undefined` when it is none. The inverse of
 * `keyBase(prefix, name) + ":" + suffix` for every suffix of the grammar.
 */
export function parseKey(prefix: string, key: string): ParsedKey | undefined {
  const start = `${prefix}${prefix ? ":" : ""}{`;
  if (!key.startsWith(start)) return undefined;
  const rest = key.slice(start.length);
  // 1. `name}:suffix`: the suffix has no `}`.
  const close = rest.lastIndexOf("}");
  if (close >= 0 && rest[close + 1] === ":") {
    const suffix = rest.slice(close + 2);
    if (KEY_SUFFIX.test(suffix)) {
      const name = rest.slice(0, close);
      // A `}` name's key from before its layout changed: not where
      // keyBase puts that name's keys now, so not listed.
      if (name.startsWith("}")) return undefined;
      return { name, suffix };
    }
  }
  // 2. `~}name~:suffix` (name starts with `}`): the suffix has no `~:`.
  if (!rest.startsWith("~}}")) return undefined;
  const end = rest.lastIndexOf("~:");
  if (end < 3) return undefined;
  const suffix = rest.slice(end + 2);
  if (!KEY_SUFFIX.test(suffix)) return undefined;
  return { name: rest.slice(2, end), suffix };
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

/** Suffixes of the six keys every lock script takes, in KEYS order. */
export const SCRIPT_KEYS = [
  "holders",
  "owners",
  "queue",
  "waiters",
  "wants",
  "meta",
] as const;

/**
 * Every key suffix a lock (mutex or semaphore) may have: the script keys,
 * and `fence`, where versions before 0.2 kept the last token (read by
 * nobody now; it expires on its own).
 */
export const LOCK_KEY_SUFFIXES: ReadonlySet<string> = new Set([
  ...SCRIPT_KEYS,
  "fence",
]);

/** Every key suffix a `ManualResetEvent` may have. */
export const MANUAL_EVENT_KEYS = ["state", "listeners", "woken"] as const;

/** Every key suffix an `AutoResetEvent` may have. */
export const AUTO_EVENT_KEYS = [
  "signals",
  "takers",
  "heartbeats",
  "granted",
] as const;

/**
 * The kind of a primitive, as `listPrimitives()` and `inspect()` report
 * it (a `Redlock` is a mutex on each of its servers).
 */
export type PrimitiveKind =
  | "mutex"
  | "semaphore"
  | "read-write-lock"
  | "manual-reset-event"
  | "auto-reset-event";

/**
 * The kinds a lock's `meta` hash records (field `kind`, written with its
 * permit count): a mutex writes no `meta`.
 */
export type StoredLockKind = "semaphore" | "read-write-lock";

/** The Redis keys of one lock primitive. */
export interface LockKeys {
  /** The six keys of {@linkcode SCRIPT_KEYS}, in order. */
  script: string[];
  /**
   * The same keys as UTF-8 bytes, encoded once per primitive: what its
   * `ACQUIRE`, `RELEASE` and `EXTEND` are sent with (the client copies
   * bytes instead of encoding six strings on every call).
   */
  scriptBytes: Uint8Array[];
  /** The semaphore's definition (`meta`). */
  meta: string;
  /**
   * Prefix of the wake lists: `wakePrefix + hubId` (see `WakeHub`); from
   * {@linkcode keysOf}, the primitive's own (`base:wake:`); from
   * {@linkcode keysForClient}, the one its client's scripts use.
   */
  wakePrefix: string;
  /** `prefix:{name}` (see {@linkcode keyBase}). */
  base: string;
}

const utf8 = new TextEncoder();

/** The Redis keys of one primitive; they all share one hash tag. */
export function keysOf(prefix: string, name: string): LockKeys {
  const base = keyBase(prefix, name);
  const script = SCRIPT_KEYS.map((suffix) => `${base}:${suffix}`);
  return {
    script,
    scriptBytes: script.map((key) => utf8.encode(key)),
    meta: script[5],
    wakePrefix: `${base}:wake:`,
    base,
  };
}

/**
 * {@linkcode keysOf}, with the wake prefix that `client` uses: one list per
 * wake hub on one server, the primitive's own in a cluster (see
 * `Topology.wakePrefix`).
 */
export function keysForClient(
  client: RedisClient,
  prefix: string,
  name: string,
): LockKeys {
  const keys = keysOf(prefix, name);
  return {
    ...keys,
    wakePrefix: internalsOf(client).wakePrefix(prefix, keys.base),
  };
}

/** The ZSET listing contended primitives under `prefix`. */
export function contendedKey(prefix: string): string {
  return `${prefix}${prefix ? ":" : ""}contended`;
}
