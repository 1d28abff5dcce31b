/**
 * Lua scripts sent by SHA-1 (`EVALSHA`), falling back to `EVAL` when the
 * server does not have them (`NOSCRIPT`: first use, after `SCRIPT FLUSH`,
 * after a restart or failover).
 *
 * A script of the library may also have a Redis Function form
 * ({@linkcode asFunction}): where the server has functions (Redis 7.0 and
 * later, and the user may load and call them), it runs with `FCALL`, its
 * helpers defined once when the library is loaded rather than on every
 * run; elsewhere, or when loading fails, with `EVALSHA`/`EVAL` as before.
 *
 * @module
 */
import { internalsOf, type RedisClient } from "./client.ts";
import type { CommandOptions } from "./client_options.ts";
import { RedisReplyError } from "../errors.ts";
import type { RedisArg, RedisReply } from "../resp/types.ts";
import { lacksCommand } from "./commands.ts";
import { sha1Hex } from "./sha1.ts";

/** A script's Redis Function form: the library and the function it registers. */
interface FunctionForm {
  /** The library's and its one function's name (`redsync_<digest>`). */
  readonly name: string;
  /** The library's source, for `FUNCTION LOAD`. */
  readonly library: string;
}

/** The function forms of scripts (see {@linkcode asFunction}). */
const functionForms = new WeakMap<object, FunctionForm>();

/** What a client learned of its servers' functions. */
interface FunctionSupport {
  /** They cannot run ours: `FCALL` or `FUNCTION LOAD` refused. */
  off: boolean;
  /** The libraries its primaries have (loaded, or found loaded). */
  readonly ready: Set<string>;
  /** Libraries being loaded now, by name. */
  readonly loading: Set<string>;
  /** `performance.now()` before which a failed load is not tried again. */
  retryAt: number;
}

const support = new WeakMap<RedisClient, FunctionSupport>();

function supportOf(client: RedisClient): FunctionSupport {
  let known = support.get(client);
  if (known === undefined) {
    known = { off: false, ready: new Set(), loading: new Set(), retryAt: 0 };
    support.set(client, known);
  }
  return known;
}

/** A failed load (Redis down, `LOADING`...) is tried again after this. */
const LOAD_RETRY_MS = 1_000;

/**
 * Gives `script` a Redis Function form: `build(name)` returns the source of
 * a library named `name` that registers one function of that name, taking
 * the same KEYS and ARGV and answering as the script does. The name is
 * derived from the source (`redsync_` and 24 hex digits of its SHA-1), so
 * two versions of a script never share one, and one never needs `REPLACE`.
 * Not public API: the lock scripts use it to define their helpers once per
 * library instead of once per run.
 */
export function asFunction<S extends Script<never, unknown>>(
  script: S,
  build: (name: string) => string,
): S {
  const name = `redsync_${sha1Hex(build("redsync_")).slice(0, 24)}`;
  functionForms.set(script, { name, library: build(name) });
  return script;
}

/** `ERR Function not found`: the server does not have the library. */
function isFunctionNotFound(error: unknown): boolean {
  return error instanceof RedisReplyError &&
    /function not found/i.test(error.message);
}

/**
 * Loads `form`'s library on every primary of `client`, in the background
 * (the run that asked goes on as a script: no caller waits for a load).
 * Once every primary has it, runs use `FCALL`; a server that refuses (no
 * `FUNCTION`, or not for this user) turns functions off for the client.
 */
function loadInBackground(
  client: RedisClient,
  form: FunctionForm,
  known: FunctionSupport,
): void {
  if (known.loading.has(form.name) || performance.now() < known.retryAt) {
    return;
  }
  known.loading.add(form.name);
  (async () => {
    const primaries = await internalsOf(client).primaries();
    await Promise.all(primaries.map(async (primary) => {
      try {
        await primary.send(["FUNCTION", "LOAD", form.library]);
      } catch (error) {
        if (/already exists/i.test(String((error as Error)?.message))) return;
        if (lacksCommand(error)) known.off = true;
        throw error;
      }
    }));
    known.ready.add(form.name);
  })().catch(() => {
    // Refused (functions off), or not now: scripts meanwhile.
    known.retryAt = performance.now() + LOAD_RETRY_MS;
  }).finally(() => known.loading.delete(form.name));
}

/** Options of {@linkcode Script.run}. */
export interface ScriptRunOptions extends CommandOptions {
  /**
   * Send the source with `EVAL` instead of `EVALSHA`: one command that works
   * even when the server's script cache was flushed (a cleanup that must go
   * out in full right now, e.g. before the client closes).
   * @default {false}
   */
  evalOnly?: boolean;
  /**
   * When the server does not have the script (`NOSCRIPT`: it did not run)
   * and this signal aborted meanwhile, do not send it again with `EVAL`:
   * reject with the signal's reason. For a command sent without a signal
   * (its outcome must be known) whose caller may meanwhile have sent a
   * cleanup: a late `EVAL` would run after that cleanup.
   * @default {undefined}
   */
  noRetryAfter?: AbortSignal;
}

/**
 * A Lua script with a fixed number of keys. Keys and values are always
 * passed as `KEYS`/`ARGV`, never spliced into the source. The type
 * parameters describe its `ARGV` and its reply, so callers need no casts
 * (they are a promise about the Lua source, checked by its tests).
 *
 * @example
 * ```ts
 * import { connect, Script } from "@redsync/core";
 * const incrBy = new Script<[step: number], number>(
 *   `local key = KEYS[1]
 *    local step = tonumber(ARGV[1])
 *    return redis.call("INCRBY", key, step)`,
 *   { keys: 1, name: "incrBy" },
 * );
 * await using redis = await connect();
 * console.log(await incrBy.run(redis, ["counter"], [5])); // 5, then 10, ...
 * ```
 */
export class Script<
  Args extends readonly RedisArg[] = readonly RedisArg[],
  Result = RedisReply,
> {
  /** The Lua source. */
  readonly source: string;
  /** How many of the arguments of {@linkcode Script.run} are keys. */
  readonly keys: number;
  /** A name for messages. */
  readonly name: string;
  /**
   * The script's SHA-1, as `SCRIPT LOAD` answers it.
   *
   * @example
   * ```ts
   * import { Script } from "@redsync/core";
   * console.log(new Script("return 1", { keys: 0 }).sha1);
   * // "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
   * ```
   */
  readonly sha1: string;

  /** Defines a script; nothing is sent until {@linkcode Script.run}. */
  constructor(source: string, options: { keys: number; name?: string }) {
    if (typeof source !== "string" || source.trim() === "") {
      throw new TypeError(
        "Cannot define a script as 'source' must be a non-empty string",
      );
    }
    const { keys, name = "script" } = options;
    if (!Number.isInteger(keys) || keys < 0) {
      throw new RangeError(
        `Cannot define a script as 'keys' must be an integer >= 0: current value is ${keys}`,
      );
    }
    this.source = source;
    this.keys = keys;
    this.name = name;
    this.sha1 = sha1Hex(source);
  }

  /**
   * Runs the script with `EVALSHA`, and with `EVAL` when the server answers
   * `NOSCRIPT`. Throws `TypeError` before any call when the number of keys
   * is wrong.
   *
   * @example
   * ```ts
   * import { connect, Script } from "@redsync/core";
   * const get = new Script("return redis.call('GET', KEYS[1])", { keys: 1 });
   * await using redis = await connect();
   * console.log(await get.run(redis, ["greeting"]));
   * ```
   */
  async run(
    client: RedisClient,
    keys: readonly RedisArg[],
    args?: Args,
    options?: ScriptRunOptions,
  ): Promise<Result> {
    return await this.#run(client, keys, args ?? [], options) as Result;
  }

  /**
   * The command that runs this script on a connection that was sent
   * `scripts`: `EVALSHA` when it was, else `EVAL` (and it is noted).
   */
  command(
    keys: readonly RedisArg[],
    args: Args,
    scripts: Set<string>,
  ): RedisArg[] {
    if (scripts.has(this.sha1)) {
      return ["EVALSHA", this.sha1, keys.length, ...keys, ...args];
    }
    scripts.add(this.sha1);
    return ["EVAL", this.source, keys.length, ...keys, ...args];
  }

  async #run(
    client: RedisClient,
    keys: readonly RedisArg[],
    args: readonly RedisArg[],
    options: ScriptRunOptions | undefined,
  ): Promise<RedisReply> {
    if (keys.length !== this.keys) {
      throw new TypeError(
        `Cannot run script '${this.name}' as it takes ${this.keys} key(s): current number is ${keys.length}`,
      );
    }
    const form = functionForms.get(this);
    if (form !== undefined && !options?.evalOnly) {
      const known = supportOf(client);
      if (!known.off && known.ready.has(form.name)) {
        try {
          // Written in this same tick, as EVALSHA below.
          return await client.command(
            ["FCALL", form.name, keys.length, ...keys, ...args],
            options,
          );
        } catch (error) {
          if (isFunctionNotFound(error)) {
            // It did not run (FUNCTION FLUSH, a restart without
            // persistence, a slot moved to a node without it): as a script
            // now (below), and the library loaded again meanwhile.
            options?.noRetryAfter?.throwIfAborted();
            known.ready.delete(form.name);
            loadInBackground(client, form, known);
          } else if (lacksCommand(error)) {
            known.off = true; // no FCALL here, or not for this user
          } else {
            throw error;
          }
        }
      } else if (!known.off) {
        loadInBackground(client, form, known);
      }
    }
    // A connection that has not run this script yet gets it whole once
    // (no NOSCRIPT round trip after a reconnect, restart or failover);
    // later commands on it, which Redis runs after this one, use its digest.
    const loaded = internalsOf(client).loadedScripts(keys[0]);
    if (options?.evalOnly || (loaded && !loaded.has(this.sha1))) {
      loaded?.add(this.sha1);
      return await client.command(
        ["EVAL", this.source, keys.length, ...keys, ...args],
        options,
      );
    }
    try {
      // Written in this same tick: callers rely on the order of their calls.
      return await client.command(
        ["EVALSHA", this.sha1, keys.length, ...keys, ...args],
        options,
      );
    } catch (error) {
      if (!(error instanceof RedisReplyError) || error.code !== "NOSCRIPT") {
        throw error;
      }
      options?.noRetryAfter?.throwIfAborted();
      internalsOf(client).loadedScripts(keys[0])?.add(this.sha1);
      return await client.command(
        ["EVAL", this.source, keys.length, ...keys, ...args],
        options,
      );
    }
  }
}
