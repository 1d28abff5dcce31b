/**
 * Command classification on the hot path: which commands block their
 * connection (they go to a connection of their own), and which would turn
 * it into a subscriber (refused: replies would come out of order).
 *
 * @module
 */
import type { RedisArg } from "../resp/types.ts";

const BLOCKING_COMMANDS = new Set([
  "BLPOP",
  "BRPOP",
  "BLMOVE",
  "BRPOPLPUSH",
  "BLMPOP",
  "BZPOPMIN",
  "BZPOPMAX",
  "BZMPOP",
  "WAIT",
  "WAITAOF",
]);

/**
 * Tells whether a command blocks the connection it runs on: the commands
 * above, and `XREAD`/`XREADGROUP` with a `BLOCK` argument.
 */
export function isBlockingCommand(args: readonly RedisArg[]): boolean {
  const name = args[0];
  if (typeof name !== "string" || name.length < 4) return false;
  const first = name.charCodeAt(0) | 0x20; // lower-cased ASCII
  if (first !== 0x62 && first !== 0x77 && first !== 0x78) return false; // b w x
  const upper = name.toUpperCase();
  if (BLOCKING_COMMANDS.has(upper)) return true;
  if (upper !== "XREAD" && upper !== "XREADGROUP") return false;
  return args.some((a) => typeof a === "string" && a.toUpperCase() === "BLOCK");
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
