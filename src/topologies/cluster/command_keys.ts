/**
 * Which key a command touches first, to route it to the node that serves
 * that key's slot: {@linkcode firstKey}. Table-driven, pure: no I/O.
 *
 * @example
 * ```ts
 * import { firstKey } from "./command_keys.ts";
 * firstKey(["GET", "k"]); // "k"
 * firstKey(["EVALSHA", "abc", 1, "k", "arg"]); // "k"
 * firstKey(["PING"]); // undefined
 * ```
 *
 * @module
 */
import type { RedisArg } from "../../resp/types.ts";

/** Where a command's first key is: an index into its arguments, or a rule. */
type Rule = number | ((args: readonly RedisArg[]) => number);

/** No key: the command goes to any node (or to all, the router's choice). */
const NONE = -1;

const decoder = new TextDecoder();

/** An argument as upper-case text (command and subcommand names, tokens). */
function upper(arg: RedisArg | undefined): string {
  if (arg === undefined) return "";
  return (typeof arg === "string"
    ? arg
    : arg instanceof Uint8Array
    ? decoder.decode(arg)
    : String(arg)).toUpperCase();
}

/** A non-negative integer argument (numkeys), or -1 when it is not one. */
function count(arg: RedisArg | undefined): number {
  if (typeof arg === "number") return Number.isInteger(arg) ? arg : -1;
  if (typeof arg === "bigint") return arg > 0n ? 1 : 0;
  const text = arg instanceof Uint8Array ? decoder.decode(arg) : arg;
  return text !== undefined && /^\d{1,10}$/.test(text) ? Number(text) : -1;
}

/** `EVAL script numkeys key...`: the key after numkeys, when numkeys > 0. */
const afterNumkeys: Rule = (args) => count(args[2]) > 0 ? 3 : NONE;

/** `XREAD [COUNT n] [BLOCK ms] STREAMS key... id...` (and XREADGROUP's GROUP g c, NOACK). */
const afterStreams: Rule = (args) => {
  for (let i = 1; i < args.length;) {
    const token = upper(args[i]);
    if (token === "STREAMS") return i + 1;
    i += token === "GROUP" ? 3 : token === "COUNT" || token === "BLOCK" ? 2 : 1;
  }
  return NONE;
};

/** `CONTAINER SUB key ...` for the listed subcommands; keyless otherwise. */
function keyedSubcommands(names: string): Rule {
  const keyed = new Set(names.split(" "));
  return (args) => keyed.has(upper(args[1])) ? 2 : NONE;
}

const KEYLESS = "ACL ASKING AUTH BGREWRITEAOF BGSAVE CLIENT CLUSTER COMMAND " +
  "CONFIG DBSIZE DEBUG DISCARD ECHO EXEC FAILOVER FLUSHALL FLUSHDB FUNCTION " +
  "HELLO INFO KEYS LASTSAVE LATENCY LOLWUT MIGRATE MODULE MONITOR MULTI " +
  "PFSELFTEST PING PSUBSCRIBE PSYNC PUBLISH PUBSUB PUNSUBSCRIBE QUIT " +
  "RANDOMKEY READONLY READWRITE REPLCONF REPLICAOF RESET ROLE SAVE SCAN " +
  "SCRIPT SELECT SHUTDOWN SLAVEOF SLOWLOG SUBSCRIBE SWAPDB SYNC TIME " +
  "UNSUBSCRIBE UNWATCH WAIT WAITAOF";

/** Commands whose first key is not `args[1]`; any other command's is. */
const RULES: ReadonlyMap<string, Rule> = new Map<string, Rule>([
  ...KEYLESS.split(" ").map((name): [string, Rule] => [name, NONE]),
  ...["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"].map(
    (name): [string, Rule] => [name, afterNumkeys],
  ),
  // numkeys key...
  ...["LMPOP", "ZMPOP", "ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD", "SINTERCARD"]
    .map((name): [string, Rule] => [name, 2]),
  // timeout numkeys key...
  ["BLMPOP", 3],
  ["BZMPOP", 3],
  // operation destkey key...
  ["BITOP", 2],
  ["XREAD", afterStreams],
  ["XREADGROUP", afterStreams],
  ["OBJECT", keyedSubcommands("ENCODING FREQ IDLETIME REFCOUNT")],
  ["MEMORY", keyedSubcommands("USAGE")],
  ["XINFO", keyedSubcommands("STREAM GROUPS CONSUMERS")],
  [
    "XGROUP",
    keyedSubcommands("CREATE SETID DESTROY CREATECONSUMER DELCONSUMER"),
  ],
  ["PFDEBUG", 2],
]);

/**
 * The first key a command touches, to route it by its slot, or `undefined`
 * for a keyless command (PING, INFO, CLUSTER, CONFIG, SCAN, PUBLISH, WAIT,
 * MIGRATE, MEMORY STATS, ...) or one given too few arguments. The command
 * name and the subcommand and tokens that matter are matched in any case.
 *
 * Most commands take it at `args[1]` (`ZUNIONSTORE`'s destination, too);
 * the exceptions: EVAL/EVALSHA/FCALL (and their `_RO` forms) take the one
 * after numkeys, when numkeys > 0; LMPOP, ZMPOP, ZUNION, ZINTER, ZDIFF,
 * ZINTERCARD, SINTERCARD and BITOP `args[2]`; BLMPOP and BZMPOP `args[3]`;
 * XREAD and XREADGROUP the one after `STREAMS`; OBJECT, MEMORY USAGE, XINFO
 * and XGROUP `args[2]` for their key-taking subcommands. SPUBLISH,
 * SSUBSCRIBE and SUNSUBSCRIBE give their (first) shard channel, which is
 * routed as a key.
 *
 * @example
 * ```ts
 * import { firstKey } from "./command_keys.ts";
 * firstKey(["set", "k", "v"]); // "k"
 * firstKey(["XREAD", "COUNT", 2, "STREAMS", "s1", "s2", "0", "0"]); // "s1"
 * firstKey(["EVAL", "return 1", 0]); // undefined
 * ```
 */
export function firstKey(args: readonly RedisArg[]): RedisArg | undefined {
  if (args.length < 2) return undefined;
  const rule = RULES.get(upper(args[0])) ?? 1;
  const index = typeof rule === "number" ? rule : rule(args);
  return index >= 0 && index < args.length ? args[index] : undefined;
}
