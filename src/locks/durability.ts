/**
 * Replica-acknowledged grants: the `durability` option of the lock
 * primitives, validated, and what its check sends. After a grant (and each
 * renewal) the engine sends `EXTEND` and `WAIT` (or `WAITAOF`) together on
 * one connection: `EXTEND` is a write of its own that follows the grant in
 * the replication stream (for a hand-off, the grant was written by another
 * client), so the replicas that acknowledged it have the grant too; and it
 * tells whether the grant still exists on the server the connection reached
 * (after a failover it may not).
 *
 * @module
 */
import type { RedisArg, RedisReply } from "../resp/types.ts";
import type { DurabilityError } from "../errors.ts";
import { backoff, delay } from "../_internal/async.ts";
import { checkInteger } from "../_internal/validate.ts";

/** Wait for replicas to acknowledge each grant and renewal. */
export interface DurabilityOptions {
  /** Replicas that must acknowledge, 1..100. */
  replicas: number;
  /**
   * Most time to wait for them, in milliseconds (`WAIT`'s timeout).
   * @default {100}
   */
  timeoutMs?: number;
  /**
   * Wait for the replicas to write it to their append-only file
   * (`WAITAOF 0 <replicas> <timeoutMs>`, Redis 7.2) rather than to receive
   * it (`WAIT`).
   * @default {false}
   */
  aof?: boolean;
  /**
   * Too few acknowledged in time: `"fail"` gives the permit back and tries
   * again within the caller's signal (a renewal counts as failed);
   * `"warn"` keeps it and reports a `shortfall` event and a log line.
   * @default {"fail"}
   */
  onShortfall?: "fail" | "warn";
}

/** {@linkcode DurabilityOptions} with every default applied. */
export interface ResolvedDurability {
  replicas: number;
  timeoutMs: number;
  aof: boolean;
  onShortfall: "fail" | "warn";
}

/** Validates `durability` (TypeError/RangeError before any call). */
export function resolveDurability(
  action: string,
  given: DurabilityOptions | undefined,
): ResolvedDurability | undefined {
  if (given === undefined) return undefined;
  if (typeof given !== "object" || given === null) {
    throw new TypeError(
      `Cannot ${action} as 'durability' must be an object with 'replicas': current value is ${
        String(given)
      }`,
    );
  }
  const { replicas, timeoutMs = 100, aof = false, onShortfall = "fail" } =
    given;
  checkInteger(action, "durability.replicas", replicas, 1, 100);
  checkInteger(action, "durability.timeoutMs", timeoutMs, 1, 60_000);
  if (typeof aof !== "boolean") {
    throw new TypeError(
      `Cannot ${action} as 'durability.aof' must be a boolean: current value is ${
        String(aof)
      }`,
    );
  }
  if (onShortfall !== "fail" && onShortfall !== "warn") {
    throw new TypeError(
      `Cannot ${action} as 'durability.onShortfall' must be "fail" or "warn": current value is ${
        JSON.stringify(onShortfall)
      }`,
    );
  }
  return { replicas, timeoutMs, aof, onShortfall };
}

/** The `WAIT`/`WAITAOF` command of a durability setting. */
export function waitCommand(durability: ResolvedDurability): RedisArg[] {
  return durability.aof
    ? ["WAITAOF", 0, durability.replicas, durability.timeoutMs]
    : ["WAIT", durability.replicas, durability.timeoutMs];
}

/** Replicas that acknowledged, from the reply of {@linkcode waitCommand}. */
export function acknowledged(reply: RedisReply): number {
  // WAIT: a count; WAITAOF: [local, replicas].
  const count = Array.isArray(reply) ? reply[1] : reply;
  return typeof count === "number" ? count : Number(count ?? 0);
}

/** What {@linkcode confirmer} works with. */
export interface ConfirmerConfig {
  durability: ResolvedDurability | undefined;
  signal: AbortSignal;
  /** `EXTEND` and `WAIT` (transient errors retried within the signal). */
  extend(): Promise<{ left: number; shortfall: DurabilityError | undefined }>;
  /** Gives the permit back (transient errors retried within the signal). */
  release(): Promise<unknown>;
}

/**
 * With `durability`, a grant counts once the replicas have it: `EXTEND`
 * and `WAIT` on one connection. The function resolves the grant as
 * extended, or `undefined` to wait on: the grant was gone (a failover lost
 * it), or too few replicas acknowledged and `onShortfall` is `"fail"` (the
 * permit is given back first, and the next try waits a backoff; if the
 * signal ends after that, `acquire()` rejects with the `DurabilityError`,
 * kept in `shortfall`). Without `durability`, the grant as it is.
 */
export function confirmer<G extends { leftMs: number; sentAt: number }>(
  config: ConfirmerConfig,
): Confirmer<G> {
  const { durability, signal } = config;
  if (!durability) {
    return Object.assign((grant: G) => Promise.resolve(grant), {
      shortfall: undefined,
    });
  }
  const pauses = backoff({ minMs: 20, maxMs: 1_000, jitter: 0.5 });
  const confirm = Object.assign(async (grant: G) => {
    const sentAt = performance.now();
    const { left, shortfall } = await config.extend();
    if (left <= 0) return undefined;
    const confirmed = { ...grant, leftMs: left, sentAt };
    if (!shortfall || durability.onShortfall === "warn") return confirmed;
    confirm.shortfall = shortfall;
    await config.release();
    await delay(pauses.next().value!, signal);
    return undefined;
  }, { shortfall: undefined as DurabilityError | undefined });
  return confirm;
}

/** Confirms grants; `shortfall`: the last one too few replicas acknowledged. */
export type Confirmer<G> = ((grant: G) => Promise<G | undefined>) & {
  shortfall: DurabilityError | undefined;
};
