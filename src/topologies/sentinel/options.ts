/**
 * The `sentinel` connect option and the `redis+sentinel://` URL form,
 * validated before any network call (`TypeError`/`RangeError`).
 *
 * @module
 */
import type { Target } from "../../client/target.ts";

/**
 * Where the sentinels are, and which master to follow: the `sentinel`
 * option of `connect()`.
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * await using redis = await connect({
 *   sentinel: { nodes: ["10.0.0.1:26379", "10.0.0.2:26379"], name: "mymaster" },
 *   password: Deno.env.get("REDIS_PASSWORD"), // the data nodes'
 * });
 * // or: await connect("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster")
 * ```
 */
export interface SentinelOptions {
  /**
   * Sentinel addresses: `"host:port"` strings or `redis://host:port` URLs
   * (port 26379 when absent). Asked in turn; more are learned from them.
   */
  nodes: string[];
  /** The master's name, as in `sentinel monitor <name> ...`. */
  name: string;
  /**
   * ACL user name for the sentinels (the data nodes take `username`).
   * @default {undefined}
   */
  username?: string;
  /**
   * Password for the sentinels (the data nodes take `password`).
   * @default {undefined}
   */
  password?: string;
}

/** {@linkcode SentinelOptions} validated. */
export interface ResolvedSentinel {
  nodes: Target[];
  name: string;
  username: string | undefined;
  password: string | undefined;
}

/** Parses `host:port` (or `redis://host:port`, `[v6]:port`). */
function parseNode(text: string): Target {
  const bare = text.replace(/^redis:\/\//i, "").replace(/\/.*$/, "");
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(bare);
  if (!match) {
    throw new TypeError(
      `Cannot connect as a sentinel address must be "host:port": current value is ${
        JSON.stringify(bare)
      }`,
    );
  }
  const port = match[2] === undefined ? 26379 : Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(
      `Cannot connect as a sentinel port must be in 1..65535: current value is ${port}`,
    );
  }
  return { hostname: match[1].replace(/^\[(.*)\]$/, "$1"), port };
}

/** Validates `sentinel` options (TypeError/RangeError before any call). */
export function resolveSentinel(given: SentinelOptions): ResolvedSentinel {
  if (typeof given !== "object" || given === null) {
    throw new TypeError(
      `Cannot connect as 'sentinel' must be an object with 'nodes' and 'name': current value is ${
        String(given)
      }`,
    );
  }
  const { nodes, name, username, password } = given;
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw new TypeError(
      "Cannot connect as 'sentinel.nodes' must be a non-empty array of \"host:port\"",
    );
  }
  if (typeof name !== "string" || name === "") {
    throw new TypeError(
      "Cannot connect as 'sentinel.name' must be the master's name (a non-empty string)",
    );
  }
  for (
    const [field, value] of [["username", username], ["password", password]]
  ) {
    if (value !== undefined && typeof value !== "string") {
      throw new TypeError(
        `Cannot connect as 'sentinel.${field}' must be a string: current type is ${typeof value}`,
      );
    }
  }
  return {
    nodes: nodes.map((node) => parseNode(String(node))),
    name,
    username,
    password,
  };
}

/**
 * Parses `redis+sentinel://[user:password@]h1:26379,h2:26379/name[/db]`:
 * the credentials are the data nodes'. Never echoes the password.
 */
export function parseSentinelUrl(url: string): {
  sentinel: SentinelOptions;
  username?: string;
  password?: string;
  db?: number;
} {
  const rest = url.replace(/^redis\+sentinel:\/\//i, "");
  const at = rest.lastIndexOf("@");
  const userinfo = at === -1 ? "" : rest.slice(0, at);
  const [hosts, name, db, ...extra] = rest.slice(at + 1).split("/");
  if (!hosts || !name || extra.length > 0 || (db && !/^\d+$/.test(db))) {
    throw new TypeError(
      "Cannot connect as a sentinel URL must read redis+sentinel://host:port[,host:port...]/name[/db]",
    );
  }
  const colon = userinfo.indexOf(":");
  const out: ReturnType<typeof parseSentinelUrl> = {
    sentinel: { nodes: hosts.split(","), name: decodeURIComponent(name) },
  };
  if (userinfo) {
    const user = colon === -1 ? userinfo : userinfo.slice(0, colon);
    if (user) out.username = decodeURIComponent(user);
    if (colon !== -1) {
      out.password = decodeURIComponent(userinfo.slice(colon + 1));
    }
  }
  if (db) out.db = Number(db);
  return out;
}

/** How a sentinel-based client is shown in messages (no credentials). */
export function sentinelDisplay(
  sentinel: ResolvedSentinel,
  db: number,
): string {
  const hosts = sentinel.nodes.map(({ hostname, port }) =>
    `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`
  ).join(",");
  return `redis+sentinel://${hosts}/${sentinel.name}${db ? `/${db}` : ""}`;
}
