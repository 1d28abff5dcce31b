/**
 * Which runtime runs this code, decided in one place for the harness, the
 * tests and the bench.
 *
 * @example
 * ```ts
 * import { runtime } from "./runtime.ts";
 *
 * console.log(runtime); // "deno", "bun" or "node"
 * ```
 *
 * @module
 */

/** The runtimes the repository's tests and bench run on. */
export type Runtime = "deno" | "bun" | "node";

const globals = globalThis as { Deno?: unknown; Bun?: unknown };

/** The runtime this code runs on. */
export const runtime: Runtime = globals.Deno !== undefined
  ? "deno"
  : globals.Bun !== undefined
  ? "bun"
  : "node";
