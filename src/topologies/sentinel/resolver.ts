/**
 * Redis Sentinel: the client connects to the current primary of a named
 * master, found by asking the sentinels in turn (the Sentinel client spec:
 * `SENTINEL get-master-addr-by-name`, the sentinel that answered moves to
 * the front, the list is refreshed from `SENTINEL sentinels`). Every new
 * connection (main, wake hub, pool; first connect and every reconnect)
 * resolves again and checks with `ROLE` that it reached the primary; a
 * `READONLY` reply (the primary was demoted) drops the connection, so the
 * next one follows the failover.
 *
 * @module
 */
import { ConnectionError } from "../../errors.ts";
import { Connection } from "../../client/connection.ts";
import type { ResolvedOptions } from "../../client/options.ts";
import {
  fixedTarget,
  type Target,
  type TargetResolver,
} from "../../client/target.ts";
import type { ResolvedSentinel } from "./options.ts";

/** Asks the sentinels for the current primary; keeps their order. */
export class SentinelResolver implements TargetResolver {
  readonly primaryOnly = true;
  readonly #options: ResolvedOptions;
  readonly #sentinel: ResolvedSentinel;
  /** Known sentinels, the last one that answered first. */
  #nodes: Target[];

  constructor(options: ResolvedOptions, sentinel: ResolvedSentinel) {
    this.#options = options;
    this.#sentinel = sentinel;
    this.#nodes = [...sentinel.nodes];
  }

  /** The primary's address now, per the first sentinel that knows it. */
  async resolve(signal: AbortSignal): Promise<Target> {
    let lastError: unknown;
    let unknownName = false;
    // Each sentinel gets a share of the connect timeout: one that drops
    // packets must not use it all up before the others are asked.
    const nodes = [...this.#nodes];
    const shareMs = Math.max(
      200,
      Math.floor(this.#options.connectTimeoutMs / (nodes.length + 1)),
    );
    for (const node of nodes) {
      signal.throwIfAborted();
      let connection: Connection | undefined;
      try {
        connection = await Connection.open(
          this.#sentinelOptions(node, shareMs),
          {},
          signal,
        );
        const address = await connection.request([
          "SENTINEL",
          "get-master-addr-by-name",
          this.#sentinel.name,
        ]);
        if (!Array.isArray(address) || address.length < 2) {
          unknownName = true;
          continue;
        }
        this.#nodes = [node, ...this.#nodes.filter((n) => n !== node)];
        await this.#learn(connection);
        return { hostname: String(address[0]), port: Number(address[1]) };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        lastError = error;
      } finally {
        connection?.close();
      }
    }
    const { name } = this.#sentinel;
    if (unknownName) {
      throw new ConnectionError(
        `Cannot connect to ${this.#options.display}: no sentinel knows a master named '${name}'`,
      );
    }
    throw new ConnectionError(
      `Cannot connect to ${this.#options.display}: no sentinel answered${
        lastError instanceof Error ? `: ${lastError.message}` : ""
      }`,
      { cause: lastError },
    );
  }

  /** Adds the sentinels this one knows of (`SENTINEL sentinels`). */
  async #learn(connection: Connection): Promise<void> {
    const reply = await connection.request([
      "SENTINEL",
      "sentinels",
      this.#sentinel.name,
    ]).catch(() => []);
    if (!Array.isArray(reply)) return;
    for (const entry of reply) {
      const fields = entry instanceof Map
        ? entry
        : new Map(pairs(Array.isArray(entry) ? entry : []));
      const ip = fields.get("ip");
      const port = Number(fields.get("port"));
      if (typeof ip !== "string" || !Number.isInteger(port)) continue;
      const known = this.#nodes.some((n) =>
        n.hostname === ip && n.port === port
      );
      if (!known) this.#nodes.push({ hostname: ip, port });
    }
  }

  #sentinelOptions(node: Target, timeoutMs: number): ResolvedOptions {
    return sentinelNodeOptions(this.#options, this.#sentinel, node, {
      connectTimeoutMs: timeoutMs,
      commandTimeoutMs: timeoutMs,
    });
  }
}

/** `[k1, v1, k2, v2]` as entries. */
function pairs(flat: unknown[]): [unknown, unknown][] {
  const out: [unknown, unknown][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

/**
 * The options of a connection to the sentinel at `node`: the sentinels'
 * credentials, plain TCP (documented), no database or client name, and the
 * node itself as the target.
 */
export function sentinelNodeOptions(
  options: ResolvedOptions,
  sentinel: ResolvedSentinel,
  node: Target,
  overrides: Partial<ResolvedOptions> = {},
): ResolvedOptions {
  const host = node.hostname.includes(":")
    ? `[${node.hostname}]`
    : node.hostname;
  return {
    ...options,
    username: sentinel.username,
    password: sentinel.password,
    db: 0,
    clientName: undefined,
    tls: undefined,
    target: fixedTarget(node),
    display: `redis://${host}:${node.port} (sentinel)`,
    ...overrides,
  };
}
