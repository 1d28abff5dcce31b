/**
 * Command classification on the hot path: which commands block their
 * connection (they go to a connection of their own), and which would turn
 * it into a subscriber (refused: replies would come out of order); and the
 * answer that says a server has no such command (feature detection).
 *
 * @module
 */
import { RedisReplyError } from "../errors.ts";
import type { RedisArg } from "../resp/types.ts";

/**
 * Commands that block the connection they run on, with where their server
 * timeout is: the index of the argument (-1: the last one) and its unit.
 */
const BLOCKING_COMMANDS = new Map<string, [index: number, unit: number]>([
  ["BLPOP", [-1, 1000]],
  ["BRPOP", [-1, 1000]],
  ["BLMOVE", [-1, 1000]],
  ["BRPOPLPUSH", [-1, 1000]],
  ["BLMPOP", [1, 1000]],
  ["BZPOPMIN", [-1, 1000]],
  ["BZPOPMAX", [-1, 1000]],
  ["BZMPOP", [1, 1000]],
  ["WAIT", [2, 1]],
  ["WAITAOF", [3, 1]],
]);

function upperName(args: readonly RedisArg[]): string | undefined {
  const name = args[0];
  if (typeof name !== "string" || name.length < 4) return undefined;
  const first = name.charCodeAt(0) | 0x20; // lower-cased ASCII
  if (first !== 0x62 && first !== 0x77 && first !== 0x78) return undefined; // b w x
  return name.toUpperCase();
}

/**
 * Tells whether a command blocks the connection it runs on: the commands
 * above but `WAIT`/`WAITAOF`, and `XREAD`/`XREADGROUP` with a `BLOCK`
 * argument. These run on the blocking pool.
 */
export function isBlockingCommand(args: readonly RedisArg[]): boolean {
  const upper = upperName(args);
  if (upper === undefined) return false;
  if (BLOCKING_COMMANDS.has(upper)) return upper[0] !== "W";
  if (upper !== "XREAD" && upper !== "XREADGROUP") return false;
  return args.some((a) => typeof a === "string" && a.toUpperCase() === "BLOCK");
}

/**
 * `WAIT` and `WAITAOF` count the writes of the connection they run on, so
 * they must run on the caller's (the shared main) connection: from another
 * one they would answer at once and say nothing about the caller's writes.
 */
export function isWaitCommand(args: readonly RedisArg[]): boolean {
  const upper = upperName(args);
  return upper === "WAIT" || upper === "WAITAOF";
}

/**
 * The client-side deadline of a blocking command, in ms: its server
 * timeout plus `graceMs`, after which its connection is declared dead (a
 * half-open socket). `Infinity` when it blocks without a timeout (0).
 */
export function blockingDeadlineMs(
  args: readonly RedisArg[],
  graceMs: number,
): number {
  const upper = upperName(args) ?? "";
  let timeoutMs: number;
  const spec = BLOCKING_COMMANDS.get(upper);
  if (spec) {
    const [index, unit] = spec;
    timeoutMs = Number(args.at(index)) * unit;
  } else {
    const at = args.findIndex((a) =>
      typeof a === "string" && a.toUpperCase() === "BLOCK"
    );
    timeoutMs = at === -1 ? 0 : Number(args[at + 1]);
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) return graceMs; // Redis refuses it
  return timeoutMs === 0 ? Infinity : timeoutMs + graceMs;
}

/** Commands that switch a connection to push mode (replies out of order). */
const SUBSCRIBER_COMMANDS = new Set([
  "SUBSCRIBE",
  "PSUBSCRIBE",
  "SSUBSCRIBE",
  "UNSUBSCRIBE",
  "PUNSUBSCRIBE",
  "SUNSUBSCRIBE",
  "MONITOR",
]);

/** Cheap test first (the hot path sends EVALSHA, GET, SET...), then the set. */
export function isSubscriberCommand(name: string): boolean {
  if (name.length < 7 || name.length > 12) return false;
  const last = name.charCodeAt(name.length - 1) | 0x20; // lower-cased ASCII
  if (last !== 0x65 && last !== 0x72) return false; // "e" or "r"
  return SUBSCRIBER_COMMANDS.has(name.toUpperCase());
}

/** Commands that change the state of the connection they run on. */
const STATE_COMMANDS = new Map<string, string>([
  ["MULTI", "use redis.exclusive(fn) for a transaction"],
  ["EXEC", "use redis.exclusive(fn) for a transaction"],
  ["DISCARD", "use redis.exclusive(fn) for a transaction"],
  ["WATCH", "use redis.exclusive(fn) for a transaction"],
  ["UNWATCH", "use redis.exclusive(fn) for a transaction"],
  ["SELECT", "choose the database with the 'db' option or the URL path"],
  ["AUTH", "pass 'username' and 'password' to connect()"],
  ["HELLO", "choose the protocol with the 'protocol' option"],
  ["RESET", "use close() and connect()"],
  ["QUIT", "use close()"],
]);

/**
 * Why a command may not run on the shared connection, or `undefined`. A
 * command that changes the connection's state would act on every caller's
 * commands (a `MULTI` queues theirs; `CLIENT REPLY OFF` shifts every later
 * reply onto the wrong caller) or be lost at the next reconnect (`SELECT`).
 */
export function stateCommandRefusal(
  args: readonly RedisArg[],
): string | undefined {
  const name = args[0];
  if (typeof name !== "string" || name.length < 4 || name.length > 7) {
    return undefined;
  }
  const upper = name.toUpperCase();
  if (upper === "CLIENT") {
    const sub = args[1];
    if (typeof sub === "string" && sub.toUpperCase() === "REPLY") {
      return "replies could no longer be matched to their callers";
    }
    return undefined;
  }
  return STATE_COMMANDS.get(upper);
}

/**
 * The server has no such command or subcommand, or this user may not run
 * it: `ERR unknown command` / `unknown subcommand` (an older server, or
 * one that renamed it away) or `NOPERM ... permissions to run` (an ACL
 * rule). The library then takes its fallback path (`CLUSTER SLOTS` for
 * `CLUSTER SHARDS`, plain pub/sub for sharded pub/sub), or, with nothing
 * to fall back on (a hub denied `SUBSCRIBE`), fails with an error that
 * says so. A `NOPERM` about keys or channels is not this.
 */
export function lacksCommand(error: unknown): boolean {
  if (!(error instanceof RedisReplyError)) return false;
  if (error.code === "NOPERM") {
    return /permissions? to run/i.test(error.message);
  }
  return /unknown (sub)?command/i.test(error.message);
}

/**
 * The error for `WAITAOF` (`durability.aof`) on a server that lacks it: it
 * names the option and the versions that have it. Other errors unchanged.
 */
export function unsupportedWait(
  wait: readonly RedisArg[],
  error: unknown,
): unknown {
  if (String(wait[0]).toUpperCase() !== "WAITAOF" || !lacksCommand(error)) {
    return error;
  }
  const reply = error as RedisReplyError;
  return new RedisReplyError(
    `${reply.code} durability.aof needs WAITAOF (Redis 7.2, Valkey 7.2 and later), which this server does not have or does not let this user run; use durability without aof (WAIT) (the server answered: ${reply.message})`,
    { cause: error },
  );
}
