/**
 * Server profiles for the compatibility matrix: the machine has one
 * `redis-server` (7.0), and older servers are emulated with it by taking
 * away the commands they lack. A top-level command is removed with
 * `rename-command NAME ""` (the server then answers `ERR unknown command`,
 * also to a Lua script that calls it, as the older server would); a
 * subcommand cannot be renamed, so it is denied to the `default` user by
 * an ACL rule (`-cluster|shards`: the server answers `NOPERM`). Syntax that
 * older versions lack on commands they have (`LPOP key count`, `ZADD GT`,
 * `SET GET`, ...) cannot be taken away: docs/compatibility.md says what the
 * library uses of it.
 *
 * The profile comes from `REDSYNC_REDIS_PROFILE` (`tests/run.ts` sets it
 * for the matrix's jobs), or from an option of `startRedis`, `startCluster`
 * and `startSentinels`, which apply it to every server they start.
 *
 * @example
 * ```ts
 * import { profileArgs } from "./profiles.ts";
 *
 * const { args, denied } = profileArgs("6.2");
 * console.log(args.slice(0, 2)); // ["--rename-command", "BLMPOP"]
 * console.log(denied.includes("cluster|shards")); // true
 * ```
 *
 * @module
 */
import process from "node:process";

/** The profiles: the real server, and two emulated older ones. */
export const PROFILES = ["7.0", "6.2", "6.0"] as const;
/** One of {@linkcode PROFILES}. */
export type Profile = typeof PROFILES[number];

/** Top-level commands Redis 7.0 added (none of them is in 6.2). */
const ADDED_IN_7_0 = [
  "BLMPOP",
  "LMPOP",
  "BZMPOP",
  "ZMPOP",
  "SINTERCARD",
  "SPUBLISH",
  "SSUBSCRIBE",
  "SUNSUBSCRIBE",
  "EXPIRETIME",
  "PEXPIRETIME",
  "FUNCTION",
  "FCALL",
  "FCALL_RO",
  "EVAL_RO",
  "EVALSHA_RO",
  "SORT_RO",
  "LCS",
];
/** Subcommands Redis 7.0 added: denied by ACL (they cannot be renamed). */
const SUBCOMMANDS_7_0 = [
  "cluster|shards",
  "cluster|links",
  "cluster|addslotsrange",
  "cluster|delslotsrange",
  "pubsub|shardchannels",
  "pubsub|shardnumsub",
  "client|no-evict",
];
/** Top-level commands Redis 6.2 added. */
const ADDED_IN_6_2 = [
  "GETDEL",
  "GETEX",
  "LMOVE",
  "BLMOVE",
  "COPY",
  "ZRANGESTORE",
  "ZUNION",
  "ZINTER",
  "ZDIFF",
  "ZDIFFSTORE",
  "ZRANDMEMBER",
  "ZMSCORE",
  "HRANDFIELD",
  "SMISMEMBER",
  "GEOSEARCH",
  "GEOSEARCHSTORE",
  "XAUTOCLAIM",
  "FAILOVER",
  "RESET",
];
/** Subcommands Redis 6.2 added. */
const SUBCOMMANDS_6_2 = [
  "client|info",
  "client|unpause",
  "client|trackinginfo",
];

/** What a profile takes away from a 7.0 server. */
export interface ProfileArgs {
  /** `redis-server` arguments: `--rename-command NAME ""` pairs. */
  args: string[];
  /** Commands renamed away (upper case). */
  removed: string[];
  /** `command|subcommand` denied to the default user (lower case). */
  denied: string[];
}

/** The profile named by `REDSYNC_REDIS_PROFILE` (default `"7.0"`). */
export function activeProfile(
  value: string | undefined = process.env.REDSYNC_REDIS_PROFILE,
): Profile {
  if (value === undefined || value === "") return "7.0";
  if ((PROFILES as readonly string[]).includes(value)) return value as Profile;
  throw new Error(
    `REDSYNC_REDIS_PROFILE must be one of ${
      PROFILES.join(", ")
    }: current value is "${value}"`,
  );
}

/** What `profile` removes, and the server arguments that do it. */
export function profileArgs(profile: Profile = activeProfile()): ProfileArgs {
  const removed = profile === "7.0"
    ? []
    : profile === "6.2"
    ? ADDED_IN_7_0
    : [...ADDED_IN_7_0, ...ADDED_IN_6_2];
  const denied = profile === "7.0"
    ? []
    : profile === "6.2"
    ? SUBCOMMANDS_7_0
    : [...SUBCOMMANDS_7_0, ...SUBCOMMANDS_6_2];
  return {
    args: removed.flatMap((name) => ["--rename-command", name, ""]),
    removed: [...removed],
    denied: [...denied],
  };
}

/**
 * The `default` user's ACL rule for `profile` (its denied subcommands), or
 * `undefined` when it denies none. `password`: the user's password, else
 * `nopass`. Written as a `user` config line; not as `--user` arguments,
 * since a config `user default` line would reset a `requirepass`.
 */
export function defaultUserRule(
  profile: Profile,
  password?: string,
): string[] | undefined {
  const { denied } = profileArgs(profile);
  if (denied.length === 0) return undefined;
  return [
    "default",
    "on",
    password === undefined ? "nopass" : `>${password}`,
    "~*",
    "&*",
    "+@all",
    ...denied.map((name) => `-${name}`),
  ];
}

/** Whether servers of `profile` have `command` (upper or lower case). */
export function profileHas(
  command: string,
  profile: Profile = activeProfile(),
): boolean {
  const name = command.toUpperCase();
  const lower = command.toLowerCase();
  const { removed, denied } = profileArgs(profile);
  return !removed.includes(name) && !denied.includes(lower);
}

/** The prefix of test names under `profile` (`""` for 7.0). */
export function profileLabel(profile: Profile = activeProfile()): string {
  return profile === "7.0" ? "" : `[redis ${profile}-like] `;
}
