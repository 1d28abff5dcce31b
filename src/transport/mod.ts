/**
 * Socket transports, one per runtime, and the one place that detects the
 * runtime. Import from `@redsync/core/transport` to pick or wrap one.
 *
 * @module
 */
import { bunConnector } from "./bun.ts";
import { denoConnector } from "./deno.ts";
import { nodeConnector } from "./node.ts";
import type { Connector } from "./types.ts";

export { bunConnector } from "./bun.ts";
export { denoConnector } from "./deno.ts";
export { nodeConnector } from "./node.ts";
export type {
  Connector,
  TlsOptions,
  Transport,
  TransportHandlers,
  TransportOptions,
} from "./types.ts";

/** The JavaScript runtimes the library knows how to connect from. */
export type Runtime = "deno" | "bun" | "node";

/**
 * Tells which runtime this code runs on: Deno, then Bun, else Node-compatible.
 *
 * @example
 * ```ts
 * import { detectRuntime } from "@redsync/core/transport";
 * console.log(detectRuntime()); // "deno" under Deno
 * ```
 */
export function detectRuntime(): Runtime {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (typeof g.Deno === "object" && g.Deno !== null) return "deno";
  if (typeof g.Bun === "object" && g.Bun !== null) return "bun";
  return "node";
}

/**
 * The connector of the current runtime's own sockets.
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * import { defaultConnector } from "@redsync/core/transport";
 * await using redis = await connect({ port: 6379, connector: defaultConnector() });
 * ```
 */
export function defaultConnector(): Connector {
  switch (detectRuntime()) {
    case "deno":
      return denoConnector;
    case "bun":
      return bunConnector;
    default:
      return nodeConnector;
  }
}
