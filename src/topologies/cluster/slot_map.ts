/**
 * The slot map of a Redis Cluster, parsed from `CLUSTER SHARDS` (Redis 7+)
 * or `CLUSTER SLOTS` replies, in either protocol (RESP2 flat arrays, RESP3
 * `Map`s): which primary serves each slot, and the replicas of each primary.
 * Pure: no I/O. A malformed reply throws a `TypeError`.
 *
 * Endpoints follow the Redis documentation: a NULL or empty endpoint means
 * "the host this reply came from" (`seedHost`, with the port of the reply);
 * `"?"` (hostnames preferred, none announced) means an unknown host, so the
 * node's `ip` is used when the reply gives one, and otherwise the node is
 * left out: a primary's slots then have no owner (-1), a replica is dropped.
 *
 * @example
 * ```ts
 * import { parseClusterSlots, slotOwner } from "./slot_map.ts";
 * const map = parseClusterSlots([[0, 16383, ["10.0.0.1", 6379, "id1"]]], "seed");
 * slotOwner(map, 42); // { id: "id1", host: "10.0.0.1", port: 6379, role: "primary" }
 * ```
 *
 * @module
 */
import type { RedisReply } from "../../resp/types.ts";
import { SLOTS } from "./slot.ts";

/** A host and a port, as announced by the cluster or as translated. */
export interface NodeAddress {
  /** A hostname or an IP address (IPv6 without brackets). */
  host: string;
  /** The TCP port. */
  port: number;
}

/** One node of the cluster, at the address to connect to. */
export interface ClusterNodeInfo extends NodeAddress {
  /** The node ID (40 hex characters); absent when the reply has none. */
  id?: string;
  /** `"primary"` serves slots; `"replica"` copies a primary. */
  role: "primary" | "replica";
  /**
   * `CLUSTER SHARDS` only: `"online"`, `"loading"` or `"fail"` (Redis 7.0;
   * documented as `"failed"`). Absent for `CLUSTER SLOTS`, which lists only
   * available nodes.
   */
  health?: string;
}

/** Which node serves each slot. */
export interface SlotMap {
  /** {@linkcode SLOTS} entries: an index into `primaries`, or -1 when no known node serves the slot. */
  owners: Int16Array;
  /** The primaries that serve at least one slot, in the order first met. */
  primaries: ClusterNodeInfo[];
  /** `replicas[i]`: the online replicas of `primaries[i]` (maybe none). */
  replicas: ClusterNodeInfo[][];
}

/** How addresses are resolved; both parsers take the same. */
export interface SlotMapOptions {
  /**
   * Maps each announced address (after the NULL/empty endpoint rule) to the
   * one to connect to, e.g. behind NAT or port forwarding.
   * @default {undefined}
   */
  natMap?: (address: NodeAddress) => NodeAddress;
  /**
   * `CLUSTER SHARDS` gives `port` and/or `tls-port`: `true` prefers
   * `tls-port`, `false` prefers `port` (either falls back to the other).
   * `CLUSTER SLOTS` already answers with the port of the asking connection.
   * @default {false}
   */
  tls?: boolean;
}

/** The primary serving `slot`, or `undefined` when none is known. */
export function slotOwner(
  map: SlotMap,
  slot: number,
): ClusterNodeInfo | undefined {
  const index = map.owners[slot];
  return index === undefined || index < 0 ? undefined : map.primaries[index];
}

const decoder = new TextDecoder();

/** A short, safe description of a reply value, for messages. */
function describe(value: unknown): string {
  if (value instanceof Error) return `an error reply (${value.message})`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Map) return `a map of ${value.size}`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (typeof value === "string") {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  }
  return typeof value === "bigint" ? `${value}n` : String(value);
}

function text(value: RedisReply | undefined): string | undefined {
  if (typeof value === "string") return value;
  return value instanceof Uint8Array ? decoder.decode(value) : undefined;
}

function integer(value: RedisReply | undefined): number | undefined {
  const n = typeof value === "bigint" && value >= 0n && value <= 0xffffn
    ? Number(value)
    : value;
  return typeof n === "number" && Number.isInteger(n) ? n : undefined;
}

/** A node's identity: its ID, else its address. */
function nodeKey(node: ClusterNodeInfo): string {
  return node.id ?? `${node.host}:${node.port}`;
}

/** What one node entry says, before its address is resolved. */
interface RawNode {
  role: ClusterNodeInfo["role"];
  endpoint: RedisReply | undefined;
  ip: RedisReply | undefined;
  port: RedisReply | undefined;
  id: RedisReply | undefined;
  health?: RedisReply;
}

/**
 * Reads one reply: shape checks that throw a `TypeError` naming the command,
 * address resolution, and the map being built (slot ranges, overlaps).
 */
class Builder {
  readonly map: SlotMap = {
    owners: new Int16Array(SLOTS).fill(-1),
    primaries: [],
    replicas: [],
  };
  readonly #claimed = new Uint8Array(SLOTS);
  readonly #index = new Map<string, number>();

  constructor(
    readonly command: string,
    readonly seedHost: string,
    readonly options: SlotMapOptions,
  ) {
    if (typeof seedHost !== "string" || seedHost === "") {
      throw this.fail("'seedHost' must be a non-empty string", seedHost);
    }
  }

  fail(what: string, value: unknown): TypeError {
    return new TypeError(
      `Cannot parse ${this.command} as ${what}: current value is ${
        describe(value)
      }`,
    );
  }

  array(what: string, value: RedisReply | undefined): RedisReply[] {
    if (Array.isArray(value)) return value;
    throw this.fail(`${what} must be an array`, value);
  }

  /** A RESP3 map or a RESP2 flat `[key, value, ...]` array, keyed by text. */
  fields(what: string, value: RedisReply | undefined): Map<string, RedisReply> {
    const flat = value instanceof Map ? [...value].flat(1) : value;
    if (!Array.isArray(flat) || flat.length % 2 !== 0) {
      throw this.fail(`${what} must be a map or a flat array of pairs`, value);
    }
    const out = new Map<string, RedisReply>();
    for (let i = 0; i < flat.length; i += 2) {
      const name = text(flat[i]);
      if (name === undefined) {
        throw this.fail(`${what}'s keys must be strings`, flat[i]);
      }
      out.set(name.toLowerCase(), flat[i + 1]);
    }
    return out;
  }

  /**
   * The host to connect to: NULL or `""` is the seed host; `"?"` falls back
   * to `ip`, then to nothing (an unknown node).
   */
  #host(endpoint: RedisReply | undefined, ip: RedisReply | undefined) {
    if (endpoint === null || endpoint === undefined) return this.seedHost;
    const host = text(endpoint);
    if (host === undefined) {
      throw this.fail("an endpoint must be a string or NULL", endpoint);
    }
    if (host === "") return this.seedHost;
    if (host !== "?") return host;
    const fallback = text(ip);
    return fallback && fallback !== "?" ? fallback : undefined;
  }

  /** A node at its final address, or `undefined` for an unknown one. */
  node(raw: RawNode): ClusterNodeInfo | undefined {
    const port = integer(raw.port);
    if (port === undefined || port < 0 || port > 65535) {
      throw this.fail("a port must be an integer in 0..65535", raw.port);
    }
    const id = text(raw.id);
    if (id === undefined && raw.id !== null && raw.id !== undefined) {
      throw this.fail("a node id must be a string", raw.id);
    }
    const host = this.#host(raw.endpoint, raw.ip);
    if (host === undefined || port === 0) return undefined;
    let address: NodeAddress = { host, port };
    if (this.options.natMap) {
      address = this.options.natMap(address);
      const { host, port } = address ?? {};
      if (
        typeof host !== "string" || host === "" || !Number.isInteger(port) ||
        port < 1 || port > 65535
      ) {
        throw new TypeError(
          `Cannot parse ${this.command} as 'natMap' must return { host, port } with a port in 1..65535: current value is ${
            JSON.stringify(address)
          }`,
        );
      }
    }
    const node: ClusterNodeInfo = {
      host: address.host,
      port: address.port,
      role: raw.role,
    };
    if (id !== undefined) node.id = id;
    const health = text(raw.health);
    if (health !== undefined) node.health = health;
    return node;
  }

  /** The index of `node` among the primaries (added when new). */
  primary(node: ClusterNodeInfo): number {
    let index = this.#index.get(nodeKey(node));
    if (index === undefined) {
      index = this.map.primaries.push(node) - 1;
      this.map.replicas.push([]);
      this.#index.set(nodeKey(node), index);
    }
    return index;
  }

  replica(primary: number, node: ClusterNodeInfo): void {
    const list = this.map.replicas[primary];
    if (!list.some((r) => nodeKey(r) === nodeKey(node))) list.push(node);
  }

  /** Gives `start..end` to `owner` (-1: an unknown node). */
  claim(owner: number, start: RedisReply, end: RedisReply): void {
    const from = integer(start);
    const to = integer(end);
    if (from === undefined || to === undefined || from > to || to >= SLOTS) {
      throw new TypeError(
        `Cannot parse ${this.command} as a slot range must be two integers in 0..${
          SLOTS - 1
        }, in order: current value is ${describe(start)}..${describe(end)}`,
      );
    }
    for (let slot = from; slot <= to; slot++) {
      if (this.#claimed[slot]) {
        throw new TypeError(
          `Cannot parse ${this.command} as a slot must be served by one node only: slot ${slot} is claimed twice`,
        );
      }
      this.#claimed[slot] = 1;
      this.map.owners[slot] = owner;
    }
  }
}

const HEALTH_RANK: Record<string, number> = { online: 0, loading: 1 };

/**
 * Parses a `CLUSTER SHARDS` reply (Redis 7+; RESP2 or RESP3). In each
 * shard, the node with role `master` owns the shard's slots; when several
 * claim it (an old primary not yet demoted), the healthiest wins (online,
 * then loading, then any), the first on a tie. A primary that is `loading`
 * or `fail` still owns its slots (recorded with its `health`): its shard has
 * no other owner until a failover, which a refresh will then show. Only
 * `online` replicas are kept. Shards without slots are left out.
 *
 * @param reply The reply, as decoded.
 * @param seedHost The host the command was sent to (for NULL/empty endpoints).
 * @param options `natMap` and `tls`.
 * @throws {TypeError} if the reply is malformed or two shards claim a slot.
 */
export function parseClusterShards(
  reply: RedisReply,
  seedHost: string,
  options: SlotMapOptions = {},
): SlotMap {
  const build = new Builder("CLUSTER SHARDS", seedHost, options);
  for (const shardReply of build.array("the reply", reply)) {
    const shard = build.fields("a shard", shardReply);
    const slots = build.array("a shard's slots", shard.get("slots"));
    if (slots.length % 2 !== 0) {
      throw build.fail("a shard's slots must be start/end pairs", slots);
    }
    const nodes = build.array("a shard's nodes", shard.get("nodes"))
      .map((node) => build.node(shardNode(build, node)));
    if (slots.length === 0) continue;
    let best: ClusterNodeInfo | undefined;
    let bestRank = Infinity;
    for (const node of nodes) {
      if (node?.role !== "primary") continue;
      const rank = HEALTH_RANK[node.health ?? ""] ?? 2;
      if (rank < bestRank) [best, bestRank] = [node, rank];
    }
    const owner = best === undefined ? -1 : build.primary(best);
    for (let i = 0; i < slots.length; i += 2) {
      build.claim(owner, slots[i], slots[i + 1]);
    }
    if (owner === -1) continue;
    for (const node of nodes) {
      if (node?.role === "replica" && node.health === "online") {
        build.replica(owner, node);
      }
    }
  }
  return build.map;
}

/** One node of a shard: a map (RESP3) or flat pairs (RESP2). */
function shardNode(build: Builder, reply: RedisReply): RawNode {
  const node = build.fields("a node", reply);
  const role = text(node.get("role"));
  if (role !== "master" && role !== "replica" && role !== "slave") {
    throw build.fail("a role must be master or replica", node.get("role"));
  }
  const plain = node.get("port");
  const tls = node.get("tls-port");
  const port = build.options.tls ? tls ?? plain : plain ?? tls;
  if (port === undefined) {
    throw build.fail("a node must have a port or a tls-port", reply);
  }
  return {
    role: role === "master" ? "primary" : "replica",
    endpoint: node.has("endpoint") ? node.get("endpoint") : node.get("ip"),
    ip: node.get("ip"),
    port,
    id: node.get("id"),
    health: node.get("health"),
  };
}

/**
 * Parses a `CLUSTER SLOTS` reply (RESP2 or RESP3): `[start, end, primary,
 * ...replicas]` per range, each node `[endpoint, port, id?, metadata?]`
 * (metadata: `ip` and `hostname`, a map or a flat array). A primary serving
 * several ranges appears once in `primaries`. Elements beyond these are
 * ignored, as the documentation asks.
 *
 * @param reply The reply, as decoded.
 * @param seedHost The host the command was sent to (for NULL/empty endpoints).
 * @param options `natMap` (`tls` does not apply: the reply's ports are those
 *   of the asking connection's kind).
 * @throws {TypeError} if the reply is malformed or two ranges overlap.
 */
export function parseClusterSlots(
  reply: RedisReply,
  seedHost: string,
  options: SlotMapOptions = {},
): SlotMap {
  const build = new Builder("CLUSTER SLOTS", seedHost, options);
  for (const rangeReply of build.array("the reply", reply)) {
    const range = build.array("a slot range", rangeReply);
    if (range.length < 3) {
      throw build.fail("a range must be [start, end, primary, ...]", range);
    }
    const primary = build.node(slotsNode(build, "primary", range[2]));
    const owner = primary === undefined ? -1 : build.primary(primary);
    build.claim(owner, range[0], range[1]);
    for (let i = 3; i < range.length; i++) {
      const replica = build.node(slotsNode(build, "replica", range[i]));
      if (owner !== -1 && replica !== undefined) build.replica(owner, replica);
    }
  }
  return build.map;
}

/** `[endpoint, port, id?, metadata?, ...]`. */
function slotsNode(
  build: Builder,
  role: ClusterNodeInfo["role"],
  reply: RedisReply,
): RawNode {
  const node = build.array("a node", reply);
  if (node.length < 2) {
    throw build.fail("a node must be [endpoint, port, id?, metadata?]", node);
  }
  const metadata = node[3] === undefined || node[3] === null
    ? undefined
    : build.fields("a node's metadata", node[3]);
  const [endpoint, port, id] = node;
  return { role, endpoint, ip: metadata?.get("ip"), port, id };
}
