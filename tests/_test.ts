/**
 * Portable test shim: every test file registers its tests through
 * {@linkcode test} so that the same files run under `deno test` and
 * `bun test` (and, as a fallback, `node --test`). Assertions come from
 * `node:assert/strict`, which all three runtimes ship.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { test } from "./_test.ts";
 *
 * test("adds", () => {
 *   assert.equal(1 + 1, 2);
 * });
 * ```
 *
 * @module
 */

import { profileLabel } from "../harness/profiles.ts";
import { type Runtime, runtime } from "../harness/runtime.ts";

export { type Runtime, runtime };

/** Per-test settings. */
export interface TestOptions {
  /**
   * The test fails when it has not settled after this many milliseconds.
   * @default {60_000}
   */
  timeoutMs?: number;
  /**
   * Deno's op and resource sanitizers (`sanitizeOps`, `sanitizeResources`);
   * ignored by the other runtimes.
   * @default {true}
   */
  sanitize?: boolean;
}

/** A test body. */
export type TestFn = () => void | Promise<void>;

type Register = (
  name: string,
  fn: TestFn,
  timeoutMs: number,
  sanitize: boolean,
) => void;

const DEFAULT_TIMEOUT_MS = 60_000;

/** Runs `fn`, failing after `ms`; the timer is always cleared (Deno's op sanitizer). */
async function withTimeout(
  name: string,
  fn: TestFn,
  ms: number,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`test "${name}" timed out after ${ms} ms`)),
      ms,
    );
  });
  try {
    await Promise.race([Promise.resolve().then(fn), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface BunTestModule {
  test(name: string, fn: () => Promise<void>, timeoutMs?: number): void;
}

interface NodeTestModule {
  test(
    name: string,
    options: { timeout?: number },
    fn: () => Promise<void>,
  ): unknown;
}

async function loadRegister(): Promise<Register> {
  if (runtime === "deno") {
    return (name, fn, timeoutMs, sanitize) => {
      Deno.test({
        name,
        fn: () => withTimeout(name, fn, timeoutMs),
        sanitizeOps: sanitize,
        sanitizeResources: sanitize,
      });
    };
  }
  if (runtime === "bun") {
    // A non-literal specifier, so that `deno check` does not try to resolve it.
    const specifier = ["bun", "test"].join(":");
    const bun: BunTestModule = await import(specifier);
    return (name, fn, timeoutMs) => {
      bun.test(name, async () => await fn(), timeoutMs);
    };
  }
  const specifier = ["node", "test"].join(":");
  const node: NodeTestModule = await import(specifier);
  return (name, fn, timeoutMs) => {
    node.test(name, { timeout: timeoutMs }, async () => await fn());
  };
}

const register: Register = await loadRegister();

/**
 * Names the server profile the file runs against (`REDSYNC_REDIS_PROFILE`,
 * `harness/profiles.ts`), e.g. `[redis 6.2-like] `; empty for Redis 7.0.
 */
const PREFIX = profileLabel();

/**
 * Registers a test with the runtime's own test runner.
 *
 * @param name Shown in the runner's output (after the server profile's
 *   label, when one is set); used by `--filter` (Deno) and `-t` (Bun).
 * @param fn The test body; it fails the test by throwing or rejecting.
 * @param options Timeout and Deno sanitizers.
 */
export function test(
  name: string,
  fn: TestFn,
  options: TestOptions = {},
): void {
  register(
    PREFIX + name,
    fn,
    options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    options.sanitize ?? true,
  );
}
