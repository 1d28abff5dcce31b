/**
 * Names for the tests: each test takes fresh lock and event names, so tests
 * that share a server (or run again on it) never meet each other's keys.
 *
 * @module
 */

/** A fresh name: `label:<random UUID>`. */
export const unique = (label: string): string =>
  `${label}:${crypto.randomUUID()}`;

/**
 * A {@link unique} that puts `scope` first: `namer("rw")("x")` gives
 * `rw:x:<random UUID>`, so one file's names share a recognisable start.
 */
export const namer = (scope: string): (label: string) => string => (label) =>
  unique(`${scope}:${label}`);
