/**
 * The streams and environment the inspect CLI runs with. Re-exported by
 * `cli.ts` (the `./cli` entry point); here so that the commands can use the
 * types without importing the entry point.
 *
 * @module
 */

/**
 * A place the CLI writes text to, such as `process.stdout`.
 *
 * @example
 * ```ts
 * import type { CliOutput } from "@redsync/core/cli";
 * const chunks: string[] = [];
 * const capture: CliOutput = { write: (text) => chunks.push(text) };
 * ```
 */
export interface CliOutput {
  /** Writes `text` as is (the CLI adds its own newlines). */
  write(text: string): unknown;
}

/**
 * Where the confirmation of `release` is read from, such as `process.stdin`:
 * chunks of text or bytes, and whether a person is typing (`isTTY`).
 *
 * @example
 * ```ts
 * import type { CliInput } from "@redsync/core/cli";
 * const typed: CliInput = {
 *   isTTY: true,
 *   async *[Symbol.asyncIterator]() {
 *     yield "nightly-report\n";
 *   },
 * };
 * ```
 */
export interface CliInput extends AsyncIterable<string | Uint8Array> {
  /** `true` when it is a terminal. */
  isTTY?: boolean;
}

/**
 * The streams and environment {@linkcode main} uses.
 *
 * @example
 * ```ts
 * import process from "node:process";
 * import type { CliIO } from "@redsync/core/cli";
 * const io: CliIO = {
 *   stdout: process.stdout,
 *   stderr: process.stderr,
 *   stdin: process.stdin,
 * };
 * ```
 */
export interface CliIO {
  /** Results (tables, or the `--json` document). */
  stdout: CliOutput;
  /** Errors and usage text. */
  stderr: CliOutput;
  /**
   * Confirmation for `release`; without it, `release` needs `--yes`.
   * @default {undefined}
   */
  stdin?: CliInput;
  /**
   * Environment variables (`REDIS_URL`).
   * @default {process.env}
   */
  env?: Record<string, string | undefined>;
}
