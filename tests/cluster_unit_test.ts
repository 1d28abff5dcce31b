/**
 * The cluster's pure modules, no server: hash slots
 * (`src/topologies/cluster/slot.ts`), the first key of a command
 * (`command_keys.ts`) and the slot map parsers (`slot_map.ts`). Slot
 * vectors and replies were captured from Redis 7.0.15 (`CLUSTER KEYSLOT`,
 * `CLUSTER SHARDS`, `CLUSTER SLOTS`, RESP2 and RESP3). `ASK` and its
 * `ASKING` are checked against scripted nodes (a fake connector, no
 * sockets).
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "./_test.ts";
import { keySlot, SLOTS } from "../src/topologies/cluster/slot.ts";
import { firstKey } from "../src/topologies/cluster/command_keys.ts";
import {
  type ClusterNodeInfo,
  parseClusterShards,
  parseClusterSlots,
  type SlotMap,
  slotOwner,
} from "../src/topologies/cluster/slot_map.ts";
import type { RedisArg, RedisReply } from "../src/resp/types.ts";
import { RedisReplyError } from "../src/errors.ts";
import { ServerNode } from "../src/client/server_node.ts";
import { connect } from "../mod.ts";
import type { Connector } from "../src/transport/mod.ts";

const te = new TextEncoder();

// ---------------------------------------------------------------- slots

/** Captured with `CLUSTER KEYSLOT` on Redis 7.0.15. */
const VECTORS: [string | Uint8Array, number][] = [
  ["", 0],
  ["foo", 12182],
  ["bar", 5061],
  ["123", 5970],
  ["{user1000}.following", 3443],
  ["{user1000}.followers", 3443],
  ["foo{}{bar}", 8363],
  ["foo{{bar}}zap", 4015],
  ["foo{bar}{zap}", 5061],
  ["}{", 12793],
  ["{}", 15257],
  ["{", 4092],
  ["}", 12090],
  ["}{a}", 15495],
  ["{{}}", 4092],
  ["\u0000", 0],
  ["lock:{orders}", 105],
  ["p:{orders}:owners", 105],
  ["é", 10180],
  ["{é}x", 10180],
  ["a{é}b", 10180],
  ["ÿ", 5427],
  ["😀", 2959],
  ["{😀}a", 2959],
  ["中文{键}", 16043],
  ["日本語", 12788],
  ["ключ", 10303],
  ["{ключ}a", 10303],
  ["\ud800", 13381], // a lone surrogate is sent as U+FFFD
  ["a\udc00b", 5618],
  [new Uint8Array([0xff, 0xfe]), 3374],
  [new Uint8Array([0x7b, 0xff, 0x7d]), 7920],
  [new Uint8Array([0x7b, 0x7d, 0x80]), 1908],
];

/** Bit by bit CRC16/XMODEM with the hash tag rule: the reference. */
function referenceSlot(bytes: Uint8Array): number {
  let start = 0;
  let end = bytes.length;
  const open = bytes.indexOf(0x7b);
  const close = open === -1 ? -1 : bytes.indexOf(0x7d, open + 1);
  if (close > open + 1) [start, end] = [open + 1, close];
  let crc = 0;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i] << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc % 16384;
}

test("cluster: keySlot matches CLUSTER KEYSLOT vectors", () => {
  assert.equal(SLOTS, 16384);
  for (const [key, slot] of VECTORS) {
    assert.equal(keySlot(key), slot, JSON.stringify(key));
    if (typeof key === "string") {
      assert.equal(keySlot(te.encode(key)), slot, `bytes of ${key}`);
    }
  }
  assert.equal(keySlot(123), 5970);
  assert.equal(keySlot(123n), 5970);
  assert.equal(
    keySlot("{user1000}.following"),
    keySlot("{user1000}.followers"),
  );
  assert.equal(keySlot("foo{}{bar}"), keySlot(te.encode("foo{}{bar}")));
  assert.equal(keySlot("foo{{bar}}zap"), keySlot("{bar"));
  assert.equal(keySlot("foo{bar}{zap}"), keySlot("bar"));
});

test("cluster: keySlot agrees with a bitwise CRC16 on random keys", () => {
  const alphabet = [
    "a",
    "Z",
    "{",
    "}",
    "{",
    "}",
    "é",
    "😀",
    "中",
    " ",
    "\0",
    "\ud800",
    "\udc00",
    "\u07ff",
    "\uffff",
  ];
  for (let n = 0; n < 3000; n++) {
    let key = "";
    const length = Math.floor(Math.random() * 16);
    for (let i = 0; i < length; i++) {
      key += alphabet[Math.floor(Math.random() * alphabet.length)];
    }
    const bytes = te.encode(key);
    assert.equal(keySlot(key), referenceSlot(bytes), JSON.stringify(key));
    assert.equal(keySlot(bytes), referenceSlot(bytes), JSON.stringify(key));
  }
});

test("cluster: keySlot refuses what is not a key", () => {
  assert.throws(
    () => keySlot(null as unknown as string),
    (error: unknown) =>
      error instanceof TypeError &&
      /^Cannot compute a hash slot as 'key' must be .*: current type is null$/
        .test(error.message),
  );
});

// ---------------------------------------------------------- first keys

test("cluster: firstKey takes args[1] by default, in any case", () => {
  const cases: [RedisArg[], RedisArg | undefined][] = [
    [["GET", "k"], "k"],
    [["get", "k"], "k"],
    [[te.encode("Set"), "k", "v"], "k"],
    [["MSET", "a", "1", "b", "2"], "a"],
    [["ZUNIONSTORE", "dest", 2, "a", "b"], "dest"],
    [["ZINTERSTORE", "dest", 2, "a", "b"], "dest"],
    [["ZDIFFSTORE", "dest", 2, "a", "b"], "dest"],
    [["GEORADIUS", "geo", 0, 0, 10, "km"], "geo"],
    [["SPUBLISH", "chan", "msg"], "chan"],
    [["SSUBSCRIBE", "chan", "other"], "chan"],
    [["SUNSUBSCRIBE", "chan"], "chan"],
    [["SUNSUBSCRIBE"], undefined],
    [["GET"], undefined],
    [[], undefined],
  ];
  for (const [args, key] of cases) {
    assert.deepEqual(firstKey(args), key, JSON.stringify(args));
  }
});

test("cluster: firstKey is undefined for keyless commands", () => {
  const keyless: RedisArg[][] = [
    ["PING"],
    ["PING", "hello"],
    ["INFO", "server"],
    ["CLUSTER", "SHARDS"],
    ["cluster", "keyslot", "k"],
    ["CONFIG", "GET", "maxmemory"],
    ["CLIENT", "ID"],
    ["SCAN", 0, "MATCH", "p:*"],
    ["DBSIZE"],
    ["SCRIPT", "LOAD", "return 1"],
    ["FUNCTION", "LIST"],
    ["TIME"],
    ["ECHO", "x"],
    ["HELLO", 3],
    ["AUTH", "user", "pass"],
    ["SELECT", 0],
    ["COMMAND", "INFO", "GET"],
    ["ACL", "WHOAMI"],
    ["MEMORY", "STATS"],
    ["memory", "doctor"],
    ["LATENCY", "LATEST"],
    ["SLOWLOG", "GET"],
    ["WAIT", 1, 0],
    ["WAITAOF", 1, 0, 0],
    ["PUBLISH", "chan", "msg"],
    ["SUBSCRIBE", "chan"],
    ["MIGRATE", "host", 6379, "k", 0, 1000],
    ["KEYS", "*"],
    ["FLUSHALL"],
    ["OBJECT", "HELP"],
    ["XINFO", "HELP"],
    ["XGROUP", "HELP"],
  ];
  for (const args of keyless) {
    assert.equal(firstKey(args), undefined, JSON.stringify(args));
  }
});

test("cluster: firstKey follows numkeys, STREAMS and subcommands", () => {
  const cases: [RedisArg[], RedisArg | undefined][] = [
    [["EVAL", "return 1", 1, "k", "a"], "k"],
    [["EVAL", "return 1", "2", "k", "j"], "k"],
    [["evalsha", "abc", te.encode("1"), "k"], "k"],
    [["EVAL_RO", "return 1", 1, "k"], "k"],
    [["EVALSHA_RO", "abc", 1n, "k"], "k"],
    [["FCALL", "fn", 1, "k", "a"], "k"],
    [["FCALL_RO", "fn", 1, "k"], "k"],
    [["EVAL", "return 1", 0, "a"], undefined],
    [["EVAL", "return 1", 0], undefined],
    [["EVAL", "return 1", "x", "k"], undefined],
    [["EVAL", "return 1", 1], undefined],
    [["BLMPOP", 0, 2, "a", "b", "LEFT"], "a"],
    [["BZMPOP", 0, 1, "z", "MIN"], "z"],
    [["LMPOP", 2, "a", "b", "LEFT"], "a"],
    [["ZMPOP", 1, "z", "MAX"], "z"],
    [["ZUNION", 2, "a", "b"], "a"],
    [["ZINTER", 2, "a", "b"], "a"],
    [["ZDIFF", 2, "a", "b"], "a"],
    [["ZINTERCARD", 2, "a", "b"], "a"],
    [["SINTERCARD", 2, "a", "b"], "a"],
    [["BITOP", "AND", "dest", "a", "b"], "dest"],
    [["XREAD", "STREAMS", "s1", "s2", "0", "0"], "s1"],
    [["xread", "COUNT", 2, "block", 0, "streams", "s1", "$"], "s1"],
    [["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"], "s"],
    [["XREADGROUP", "GROUP", "streams", "STREAMS", "STREAMS", "s", ">"], "s"],
    [["XREADGROUP", "GROUP", "g", "c", "NOACK", "STREAMS", "s", ">"], "s"],
    [["XREAD", "COUNT", 2], undefined],
    [["OBJECT", "ENCODING", "k"], "k"],
    [["object", "freq", "k"], "k"],
    [["OBJECT", "IDLETIME", "k"], "k"],
    [["OBJECT", "REFCOUNT", "k"], "k"],
    [["MEMORY", "USAGE", "k", "SAMPLES", 0], "k"],
    [["XINFO", "STREAM", "s", "FULL"], "s"],
    [["XINFO", "GROUPS", "s"], "s"],
    [["xinfo", "consumers", "s", "g"], "s"],
    [["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"], "s"],
    [["XGROUP", "DESTROY", "s", "g"], "s"],
    [["OBJECT", "ENCODING"], undefined],
  ];
  for (const [args, key] of cases) {
    assert.deepEqual(firstKey(args), key, JSON.stringify(args, replacer));
  }
});

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return `${value}n`;
  return value instanceof Uint8Array ? `bytes:${[...value]}` : value;
}

// ----------------------------------------------------------- slot maps

const ID1 = "753ef1c3ee35f71e0d895fbc45702b705dce2382";
const ID2 = "470b66ac825bc2ad67a207a6a85424dbb5c0f987";
const ID3 = "924b7e2e979cc03dfb31ba0f9695e3444e419b06";

/** One RESP2 node record of `CLUSTER SHARDS`, as Redis 7.0.15 sends it. */
function shardNode(
  id: string,
  port: number,
  role: string,
  health = "online",
  endpoint: string | null = "127.0.0.1",
  hostname?: string,
): RedisReply[] {
  return [
    ...["id", id, "port", port, "ip", "127.0.0.1", "endpoint", endpoint],
    ...(hostname === undefined ? [] : ["hostname", hostname]),
    ...["role", role, "replication-offset", 126, "health", health],
  ];
}

/**
 * Captured: primaries 7101 (0-5000, 10000-12000, hostname node1.example,
 * replica 7103) and 7102 (5001-9999, 12001-16000); 16001-16383 unassigned.
 */
function shards2(endpoints: (string | null)[] = [], replicaHealth = "online") {
  const [e1 = "127.0.0.1", e2 = "127.0.0.1", e3 = "127.0.0.1"] = endpoints;
  return [
    ["slots", [5001, 9999, 12001, 16000], "nodes", [
      shardNode(ID2, 7102, "master", "online", e2),
    ]],
    ["slots", [0, 5000, 10000, 12000], "nodes", [
      shardNode(ID1, 7101, "master", "online", e1, "node1.example"),
      shardNode(ID3, 7103, "replica", replicaHealth, e3),
    ]],
  ];
}

/** A RESP2 flat `[key, value, ...]` array as the `Map` RESP3 sends. */
function pairs(flat: RedisReply[]): Map<RedisReply, RedisReply> {
  const out = new Map<RedisReply, RedisReply>();
  for (let i = 0; i < flat.length; i += 2) out.set(flat[i], flat[i + 1]);
  return out;
}

/** RESP3 form of `CLUSTER SHARDS`: each shard and each node is a `Map`. */
function toResp3Shards(reply: RedisReply[][]): RedisReply {
  return reply.map((shard) => {
    const map = pairs(shard);
    map.set("nodes", (map.get("nodes") as RedisReply[][]).map(pairs));
    return map;
  });
}

/** RESP3 form of `CLUSTER SLOTS`: each node's metadata is a `Map`. */
function toResp3Slots(reply: RedisReply): RedisReply {
  return (reply as RedisReply[][]).map(([start, end, ...nodes]) => [
    start,
    end,
    ...(nodes as RedisReply[][]).map(([endpoint, port, id, metadata]) => [
      endpoint,
      port,
      id,
      pairs(metadata as RedisReply[]),
    ]),
  ]);
}

/** The same topology, captured as `CLUSTER SLOTS` (RESP2). */
function slots2(e1: string | null = "127.0.0.1", meta1: RedisReply = [
  "hostname",
  "node1.example",
]): RedisReply {
  const n1 = [e1, 7101, ID1, meta1];
  const n3 = ["127.0.0.1", 7103, ID3, []];
  const n2 = ["127.0.0.1", 7102, ID2, []];
  return [
    [0, 5000, n1, n3],
    [5001, 9999, n2],
    [10000, 12000, n1, n3],
    [12001, 16000, n2],
  ];
}

const P1: ClusterNodeInfo = {
  host: "127.0.0.1",
  port: 7101,
  id: ID1,
  role: "primary",
};
const P2: ClusterNodeInfo = {
  host: "127.0.0.1",
  port: 7102,
  id: ID2,
  role: "primary",
};
const R3: ClusterNodeInfo = {
  host: "127.0.0.1",
  port: 7103,
  id: ID3,
  role: "replica",
};
const online = (node: ClusterNodeInfo) => ({ ...node, health: "online" });

function checkOwners(map: SlotMap, p1: number, p2: number): void {
  assert.equal(map.owners.length, SLOTS);
  const want = (slot: number) =>
    slot <= 5000 || (slot >= 10000 && slot <= 12000)
      ? p1
      : slot <= 16000
      ? p2
      : -1;
  for (let slot = 0; slot < SLOTS; slot++) {
    if (map.owners[slot] !== want(slot)) {
      assert.fail(
        `slot ${slot}: owner ${map.owners[slot]}, want ${want(slot)}`,
      );
    }
  }
}

test("cluster: parseClusterShards reads RESP2 and RESP3 alike", () => {
  for (const reply of [shards2(), toResp3Shards(shards2())]) {
    const map = parseClusterShards(reply, "seed");
    assert.deepEqual(map.primaries, [online(P2), online(P1)]);
    assert.deepEqual(map.replicas, [[], [online(R3)]]);
    checkOwners(map, 1, 0);
    assert.deepEqual(slotOwner(map, keySlot("foo")), online(P2)); // 12182
    assert.deepEqual(slotOwner(map, keySlot("bar")), online(P2)); // 5061
    assert.deepEqual(slotOwner(map, 0), online(P1));
    assert.equal(slotOwner(map, 16383), undefined);
    assert.equal(slotOwner(map, SLOTS), undefined);
  }
});

test("cluster: parseClusterShards, captured RESP3 literal", () => {
  const node = (id: string, port: number, role: string) =>
    new Map<RedisReply, RedisReply>([
      ["id", id],
      ["port", port],
      ["ip", "127.0.0.1"],
      ["endpoint", "127.0.0.1"],
      ["role", role],
      ["replication-offset", 0],
      ["health", "online"],
    ]);
  const reply: RedisReply = [
    new Map<RedisReply, RedisReply>([
      ["slots", [10923, 16383]],
      ["nodes", [node("c", 7103, "master")]],
    ]),
    new Map<RedisReply, RedisReply>([
      ["slots", [5461, 10922]],
      ["nodes", [node("b", 7102, "master")]],
    ]),
    new Map<RedisReply, RedisReply>([
      ["slots", [0, 5460]],
      ["nodes", [node("a", 7101, "master")]],
    ]),
  ];
  const map = parseClusterShards(reply, "seed");
  assert.deepEqual(map.primaries.map((p) => `${p.id}@${p.port}`), [
    "c@7103",
    "b@7102",
    "a@7101",
  ]);
  assert.equal(map.owners[0], 2);
  assert.equal(map.owners[5461], 1);
  assert.equal(map.owners[16383], 0);
  assert.equal(map.owners.indexOf(-1), -1);
});

test("cluster: parseClusterShards endpoints: empty is the seed host, ? falls back to ip", () => {
  // cluster-preferred-endpoint-type unknown-endpoint: "" in CLUSTER SHARDS.
  let map = parseClusterShards(shards2(["", "", ""]), "10.1.2.3");
  assert.deepEqual(map.primaries.map((p) => p.host), ["10.1.2.3", "10.1.2.3"]);
  assert.equal(map.replicas[1][0].host, "10.1.2.3");
  map = parseClusterShards(shards2([null, null, null]), "10.1.2.3");
  assert.deepEqual(map.primaries.map((p) => p.host), ["10.1.2.3", "10.1.2.3"]);
  // cluster-preferred-endpoint-type hostname, 7102 and 7103 without one.
  map = parseClusterShards(shards2(["node1.example", "?", "?"]), "seed");
  assert.deepEqual(map.primaries.map((p) => p.host), [
    "127.0.0.1",
    "node1.example",
  ]);
  assert.equal(map.replicas[1][0].host, "127.0.0.1");
  // "?" and no ip: an unknown node; its slots have no owner.
  const reply = shards2(["node1.example", "?", "?"]);
  for (const shard of reply) {
    for (const node of shard[3] as RedisReply[][]) node[5] = "";
  }
  map = parseClusterShards(reply, "seed");
  assert.deepEqual(map.primaries.map((p) => p.host), ["node1.example"]);
  assert.deepEqual(map.replicas, [[]]);
  assert.equal(map.owners[5001], -1);
  assert.equal(map.owners[0], 0);
});

test("cluster: parseClusterShards health, roles, tls-port and natMap", () => {
  // A failed replica is left out.
  let map = parseClusterShards(shards2([], "fail"), "seed");
  assert.deepEqual(map.replicas, [[], []]);
  map = parseClusterShards(shards2([], "loading"), "seed");
  assert.deepEqual(map.replicas, [[], []]);
  // After a failover: the old primary, back as a replica, is listed second.
  map = parseClusterShards([
    ["slots", [0, 5000], "nodes", [
      shardNode(ID3, 7103, "master"),
      shardNode(ID1, 7101, "replica"),
    ]],
  ], "seed");
  assert.deepEqual(map.primaries.map((p) => p.id), [ID3]);
  assert.deepEqual(map.replicas[0].map((r) => r.id), [ID1]);
  // Two masters in a shard: the online one wins; a failed lone one still owns.
  map = parseClusterShards([
    ["slots", [0, 5000], "nodes", [
      shardNode(ID1, 7101, "master", "fail"),
      shardNode(ID3, 7103, "master", "online"),
    ]],
    ["slots", [5001, 5002], "nodes", [shardNode(ID2, 7102, "master", "fail")]],
    ["slots", [], "nodes", [shardNode("idle", 7104, "master")]],
    ["slots", [6000, 6000], "nodes", [shardNode("r", 7105, "slave")]],
  ], "seed");
  assert.deepEqual(map.primaries.map((p) => `${p.id}:${p.health}`), [
    `${ID3}:online`,
    `${ID2}:fail`,
  ]);
  assert.equal(map.owners[5002], 1);
  assert.equal(map.owners[6000], -1);
  // tls-port: preferred with `tls`, else the fallback.
  const tlsNode = new Map<RedisReply, RedisReply>([
    ["id", "t"],
    ["port", 7000],
    ["tls-port", 7443],
    ["ip", "10.0.0.9"],
    ["endpoint", "10.0.0.9"],
    ["role", "master"],
    ["health", "online"],
  ]);
  const tlsReply = [
    new Map<RedisReply, RedisReply>([["slots", [0, 16383]], [
      "nodes",
      [tlsNode],
    ]]),
  ];
  assert.equal(parseClusterShards(tlsReply, "s").primaries[0].port, 7000);
  const tlsMap = parseClusterShards(tlsReply, "s", { tls: true });
  assert.equal(tlsMap.primaries[0].port, 7443);
  tlsNode.delete("port");
  assert.equal(parseClusterShards(tlsReply, "s").primaries[0].port, 7443);
  // natMap sees every announced address.
  const seen: string[] = [];
  map = parseClusterShards(shards2(), "seed", {
    natMap: ({ host, port }) => {
      seen.push(`${host}:${port}`);
      return { host: "public.example", port: port + 10000 };
    },
  });
  assert.deepEqual(seen, [
    "127.0.0.1:7102",
    "127.0.0.1:7101",
    "127.0.0.1:7103",
  ]);
  assert.deepEqual(map.primaries.map((p) => `${p.host}:${p.port}`), [
    "public.example:17102",
    "public.example:17101",
  ]);
  assert.equal(map.replicas[1][0].port, 17103);
});

test("cluster: parseClusterSlots reads RESP2 and RESP3 alike", () => {
  for (const reply of [slots2(), toResp3Slots(slots2())]) {
    const map = parseClusterSlots(reply, "seed");
    assert.deepEqual(map.primaries, [P1, P2]);
    assert.deepEqual(map.replicas, [[R3], []]);
    checkOwners(map, 0, 1);
  }
  // Redis 3 and 4 forms: [ip, port] and [ip, port, id].
  const old = parseClusterSlots([[0, 16383, ["10.0.0.1", 6379]]], "seed");
  assert.deepEqual(old.primaries, [{
    host: "10.0.0.1",
    port: 6379,
    role: "primary",
  }]);
  // Extra elements are ignored.
  const extra = parseClusterSlots(
    [[0, 16383, ["10.0.0.1", 6379, "x", [], "future"]]],
    "seed",
  );
  assert.equal(extra.primaries[0].id, "x");
});

test("cluster: parseClusterSlots endpoints: NULL is the seed host, ? falls back to ip", () => {
  let map = parseClusterSlots(
    slots2(null, ["ip", "127.0.0.1", "hostname", "node1.example"]),
    "10.1.2.3",
  );
  assert.equal(map.primaries[0].host, "10.1.2.3");
  assert.equal(map.primaries[0].port, 7101);
  map = parseClusterSlots(slots2("?", ["ip", "10.0.0.7"]), "seed");
  assert.equal(map.primaries[0].host, "10.0.0.7");
  map = parseClusterSlots(slots2("?", []), "seed");
  assert.deepEqual(map.primaries, [P2]);
  assert.equal(map.owners[0], -1);
  assert.equal(map.owners[5001], 0);
  map = parseClusterSlots(slots2("", null), "seed");
  assert.equal(map.primaries[0].host, "seed");
  map = parseClusterSlots([[0, 16383, ["h", 0, "x"]]], "seed");
  assert.equal(map.primaries.length, 0);
});

test("cluster: malformed replies throw a TypeError naming the command", () => {
  const bad: [() => unknown, RegExp][] = [
    [
      () => parseClusterShards("OK", "s"),
      /^Cannot parse CLUSTER SHARDS as the reply must be an array: current value is "OK"$/,
    ],
    [
      () => parseClusterShards(new RedisReplyError("ERR nope"), "s"),
      /the reply must be an array: current value is an error reply \(ERR nope\)/,
    ],
    [
      () => parseClusterShards([["slots", [0, 1], "nodes"]], "s"),
      /a shard must be a map or a flat array of pairs: current value is an array of 3/,
    ],
    [
      () => parseClusterShards([["slots", [0], "nodes", []]], "s"),
      /a shard's slots must be start\/end pairs/,
    ],
    [
      () => parseClusterShards([["slots", [0, 1]]], "s"),
      /a shard's nodes must be an array: current value is undefined/,
    ],
    [
      () => parseClusterShards([["slots", [5, 1], "nodes", []]], "s"),
      /a slot range must be two integers in 0\.\.16383, in order: current value is 5\.\.1/,
    ],
    [
      () => parseClusterShards([["slots", [0, 16384], "nodes", []]], "s"),
      /current value is 0\.\.16384/,
    ],
    [
      () => parseClusterShards([["slots", [0, "1"], "nodes", []]], "s"),
      /current value is 0\.\."1"/,
    ],
    [
      () =>
        parseClusterShards([["slots", [0, 1], "nodes", [[
          "role",
          "boss",
          "port",
          1,
        ]]]], "s"),
      /a role must be master or replica: current value is "boss"/,
    ],
    [
      () =>
        parseClusterShards(
          [["slots", [0, 1], "nodes", [["role", "master"]]]],
          "s",
        ),
      /a node must have a port or a tls-port/,
    ],
    [
      () =>
        parseClusterShards([["slots", [0, 1], "nodes", [[
          "role",
          "master",
          "port",
          70000,
        ]]]], "s"),
      /a port must be an integer in 0\.\.65535: current value is 70000/,
    ],
    [
      () =>
        parseClusterShards([["slots", [0, 1], "nodes", [[
          "role",
          "master",
          "port",
          1,
          "endpoint",
          5,
        ]]]], "s"),
      /an endpoint must be a string or NULL: current value is 5/,
    ],
    [
      () =>
        parseClusterShards([["slots", [0, 1], "nodes", [[
          "role",
          "master",
          "port",
          1,
          "id",
          5,
        ]]]], "s"),
      /a node id must be a string: current value is 5/,
    ],
    [
      () => parseClusterShards([[1, 2]], "s"),
      /a shard's keys must be strings: current value is 1/,
    ],
    [
      () => parseClusterShards([...shards2(), ...shards2()], "s"),
      /a slot must be served by one node only: slot 5001 is claimed twice/,
    ],
    [
      () => parseClusterShards([], ""),
      /'seedHost' must be a non-empty string: current value is ""/,
    ],
    [
      () => parseClusterSlots(null, "s"),
      /^Cannot parse CLUSTER SLOTS as the reply must be an array: current value is null$/,
    ],
    [
      () => parseClusterSlots([[0, 1]], "s"),
      /a range must be \[start, end, primary, \.\.\.\]/,
    ],
    [
      () => parseClusterSlots([[0, 1, "h"]], "s"),
      /a node must be an array: current value is "h"/,
    ],
    [
      () => parseClusterSlots([[0, 1, ["h"]]], "s"),
      /a node must be \[endpoint, port, id\?, metadata\?\]/,
    ],
    [
      () => parseClusterSlots([[0, 1, ["h", -1]]], "s"),
      /a port must be an integer in 0\.\.65535: current value is -1/,
    ],
    [
      () => parseClusterSlots([[0, 1, ["h", 1, "x", "meta"]]], "s"),
      /a node's metadata must be a map/,
    ],
    [
      () => parseClusterSlots([[0, 9, ["h", 1]], [9, 9, ["i", 1]]], "s"),
      /slot 9 is claimed twice/,
    ],
    [
      () =>
        parseClusterSlots([[0, 9, ["h", 1]]], "s", {
          natMap: () => ({ host: "", port: 1 }),
        }),
      /'natMap' must return \{ host, port \}/,
    ],
  ];
  for (const [fn, message] of bad) {
    assert.throws(fn, (error: unknown) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, message);
      return true;
    });
  }
});

// ---------------------------------------------------- ASK, scripted nodes

/** Every command a fake cluster node received, per connection. */
type NodeLog = string[][];

/**
 * A scripted two-node cluster (no sockets): port 1 serves slots 0..8191,
 * port 2 serves 8192..16383. `GET bar` (slot 5061) on port 1 answers
 * `-ASK 5061 127.0.0.1:2`; every other `GET` answers `ok`. `logs[port]`
 * holds what each connection to that port received, command by command.
 */
function fakeCluster(): { connector: Connector; logs: Map<number, NodeLog> } {
  const logs = new Map<number, NodeLog>([[1, []], [2, []]]);
  const slots = "*2\r\n" +
    "*3\r\n:0\r\n:8191\r\n*2\r\n$9\r\n127.0.0.1\r\n:1\r\n" +
    "*3\r\n:8192\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:2\r\n";
  const connector: Connector = (options, handlers) => {
    const log: string[] = [];
    logs.get(options.port)!.push(log);
    let closed = false;
    const answer = (command: string[]): string => {
      const line = command.join(" ").toUpperCase();
      if (line.startsWith("HELLO")) return "%0\r\n";
      if (line === "CLUSTER SHARDS") return "-ERR unknown subcommand\r\n";
      if (line === "CLUSTER SLOTS") return slots;
      if (line === "GET BAR" && options.port === 1) {
        return "-ASK 5061 127.0.0.1:2\r\n";
      }
      if (line.startsWith("GET")) return "$2\r\nok\r\n";
      return "+OK\r\n";
    };
    return Promise.resolve({
      write(bytes: Uint8Array) {
        if (closed) return;
        // Arrays of bulk strings, ASCII only: "*N", then "$len", "arg" pairs.
        const lines = new TextDecoder().decode(bytes).split("\r\n");
        for (let i = 0; i < lines.length; i++) {
          if (!lines[i].startsWith("*")) continue;
          const n = Number(lines[i].slice(1));
          const command = [];
          for (let k = 0; k < n; k++) command.push(lines[i + 2 + 2 * k]);
          i += 2 * n;
          log.push(command.join(" "));
          const reply = answer(command);
          queueMicrotask(() => {
            if (!closed) handlers.onData(new TextEncoder().encode(reply));
          });
        }
      },
      close() {
        if (closed) return;
        closed = true;
        queueMicrotask(() => handlers.onClose());
      },
    });
  };
  return { connector, logs };
}

test("cluster: a signal that aborts as ASK's node is ready leaves no ASKING behind", async () => {
  const fake = fakeCluster();
  await using redis = await connect({
    cluster: { nodes: ["127.0.0.1:1"] },
    connector: fake.connector,
    commandTimeoutMs: 5_000,
  });
  // Port 2 has one connection: its main connection.
  const main = () => fake.logs.get(2)![0];
  const since = (from: number) => main().slice(from);
  // An ASK followed normally: ASKING, then the command, on port 2.
  let from = main().length;
  assert.equal(await redis.send("GET", "bar"), "ok");
  assert.deepEqual(since(from), ["ASKING", "GET bar"]);
  // The signal aborts right after whenReady() resolves for the asked node,
  // before its continuation runs: neither ASKING nor the command is written.
  const controller = new AbortController();
  const reason = new Error("stop");
  const whenReady = ServerNode.prototype.whenReady;
  let armed = true;
  ServerNode.prototype.whenReady = function (signal) {
    const ready = whenReady.call(this, signal);
    if (armed && signal === controller.signal) {
      armed = false;
      controller.abort(reason);
    }
    return ready;
  };
  try {
    from = main().length;
    await assert.rejects(
      redis.command(["GET", "bar"], { signal: controller.signal }),
      (error: unknown) => error === reason,
    );
    assert.equal(armed, false);
  } finally {
    ServerNode.prototype.whenReady = whenReady;
  }
  // The next caller's command on port 2 runs without ASKING.
  assert.equal(await redis.send("GET", "foo"), "ok");
  assert.deepEqual(since(from), ["GET foo"]);
  assert.equal(fake.logs.get(2)!.length, 1);
});
