/**
 * Fencing at the protected resource, for a resource kept in Redis: a value
 * that only accepts writes carrying a fencing token (`lease.token`) at least
 * as large as the largest token it has seen. A holder whose lease ended
 * while it was paused (a GC pause, a frozen VM, a failover that lost its
 * grant) and that writes late, with its older token, is turned away.
 *
 * @module
 */
import { checkClient, type RedisClient } from "./client/client.ts";
import { Script } from "./client/script.ts";
import { checkOptionsObject } from "./_internal/validate.ts";
import { keyBase, MAX_NAME_LENGTH } from "./locks/keys.ts";

/**
 * Writes the value if its token is at least the last one seen (or none was
 * seen), and records the token. Tokens travel as decimal strings without
 * leading zeros and are compared digit by digit (length first), so the
 * comparison is exact at any size: no Lua double, no locale.
 *
 * KEYS: value, token. ARGV: token, value. Returns 1 written, 0 refused.
 */
const FENCED_WRITE: Script<[token: string, value: string], 0 | 1> = new Script(
  `
local value_key = KEYS[1]
local token_key = KEYS[2]
local token = ARGV[1]
local value = ARGV[2]

-- a < b, for decimal integers written without leading zeros.
local function less(a, b)
  if #a ~= #b then return #a < #b end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return false
end

local last = redis.call('GET', token_key)
if last and less(token, last) then return 0 end
redis.call('SET', token_key, token)
redis.call('SET', value_key, value)
return 1
`,
  { keys: 2, name: "fencedWrite" },
);

/** Options of {@linkcode FencedResource}. */
export interface FencedResourceOptions {
  /**
   * Prefix of the resource's two keys, `prefix:{resource}:value` and
   * `prefix:{resource}:token`. The default keeps them apart from the keys
   * of the locks (`redsync:{name}:...`), also for a lock of the same name.
   * @default {"redsync:fenced"}
   */
  prefix?: string;
}

/**
 * A string value in Redis that only accepts writes with a fencing token at
 * least as large as the largest one it has seen (`>=`: the holder of a
 * lease may write several times with its token; a smaller token, from a
 * holder whose lease ended, is refused). The value and the largest token
 * live in two keys with one hash tag, `{resource}`, so the check and the
 * write are one atomic script, on Redis Cluster too. Tokens are the
 * `lease.token` numbers of a `Mutex` or `Semaphore` (server time in
 * microseconds, about 1.7e15: integers that a double, in JavaScript or in
 * Lua, holds exactly up to 2^53, about the year 2255); the script compares
 * them as decimal strings anyway.
 *
 * @example
 * ```ts
 * import { connect, FencedResource, Mutex } from "@redsync/core";
 * await using redis = await connect();
 * const report = new FencedResource(redis, "nightly-report");
 * await using lease = await new Mutex(redis, "nightly-report").acquire();
 * // ... compute, possibly for longer than the lease ...
 * if (!await report.write(lease.token, "done")) {
 *   console.log("a later holder wrote first: this result is stale");
 * }
 * ```
 */
export class FencedResource {
  /** The resource's name (its hash tag). */
  readonly resource: string;
  /** The Redis key of the value (a string). */
  readonly valueKey: string;
  /** The Redis key of the largest token seen (a string of digits). */
  readonly tokenKey: string;
  readonly #client: RedisClient;

  /**
   * Describes the resource; nothing is sent to Redis until a call. Throws
   * `TypeError`/`RangeError` for a bad resource name or options.
   *
   * @example
   * ```ts
   * import { connect, FencedResource } from "@redsync/core";
   * await using redis = await connect();
   * const invoice = new FencedResource(redis, "invoice:42", { prefix: "app" });
   * console.log(invoice.valueKey); // "app:{invoice:42}:value"
   * ```
   */
  constructor(
    client: RedisClient,
    resource: string,
    options: FencedResourceOptions = {},
  ) {
    const action = "create a fenced resource";
    checkClient(action, client);
    if (typeof resource !== "string") {
      throw new TypeError(
        `Cannot ${action} as 'resource' must be a string: current type is ${typeof resource}`,
      );
    }
    if (resource.length === 0 || resource.length > MAX_NAME_LENGTH) {
      throw new RangeError(
        `Cannot ${action} as 'resource' must have 1..${MAX_NAME_LENGTH} characters: current length is ${resource.length}`,
      );
    }
    checkOptionsObject(action, options);
    const { prefix = "redsync:fenced" } = options;
    if (typeof prefix !== "string" || prefix.length > MAX_NAME_LENGTH) {
      throw new TypeError(
        `Cannot ${action} as 'prefix' must be a string of at most ${MAX_NAME_LENGTH} characters: current value is ${
          String(prefix)
        }`,
      );
    }
    const base = keyBase(prefix, resource);
    this.resource = resource;
    this.valueKey = `${base}:value`;
    this.tokenKey = `${base}:token`;
    this.#client = client;
  }

  /**
   * Writes `value` if `token` is at least the largest token seen so far
   * (or none was seen), and records `token`: resolves `true`. Resolves
   * `false`, changing nothing, when a larger token was seen (a later holder
   * wrote). Rejects with `TypeError`/`RangeError` before any Redis call
   * when `token` is not a non-negative safe integer or `value` not a string.
   *
   * @example
   * ```ts
   * import { connect, FencedResource, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * const balance = new FencedResource(redis, "balance:alice");
   * await using lease = await new Mutex(redis, "balance:alice").acquire();
   * const written = await balance.write(lease.token, "100");
   * console.log(written ? "written" : "refused: stale token");
   * ```
   */
  async write(token: number, value: string): Promise<boolean> {
    const action = "write a fenced resource";
    if (typeof token !== "number") {
      throw new TypeError(
        `Cannot ${action} as 'token' must be a number: current type is ${typeof token}`,
      );
    }
    if (!Number.isSafeInteger(token) || token < 0) {
      throw new RangeError(
        `Cannot ${action} as 'token' must be a safe integer >= 0: current value is ${token}`,
      );
    }
    if (typeof value !== "string") {
      throw new TypeError(
        `Cannot ${action} as 'value' must be a string: current type is ${typeof value}`,
      );
    }
    const written = await FENCED_WRITE.run(
      this.#client,
      [this.valueKey, this.tokenKey],
      [String(token), value],
    );
    return written === 1;
  }

  /**
   * The value last written, or `undefined` when none was.
   *
   * @example
   * ```ts
   * import { connect, FencedResource } from "@redsync/core";
   * await using redis = await connect();
   * console.log(await new FencedResource(redis, "nightly-report").read());
   * ```
   */
  async read(): Promise<string | undefined> {
    const value = await this.#client.send("GET", this.valueKey);
    return value === null ? undefined : String(value);
  }

  /**
   * The largest token a write carried, or `undefined` when none did.
   *
   * @example
   * ```ts
   * import { connect, FencedResource } from "@redsync/core";
   * await using redis = await connect();
   * const report = new FencedResource(redis, "nightly-report");
   * console.log("last writer's token:", await report.lastToken());
   * ```
   */
  async lastToken(): Promise<number | undefined> {
    const token = await this.#client.send("GET", this.tokenKey);
    return token === null ? undefined : Number(token);
  }
}
