/**
 * Waiting for a grant with the blocking strategy: the waiter `BLPOP`s its
 * own grant list, onto which `RELEASE` (or a reaping `ACQUIRE`) pushes
 * `token:leaseEnd` when it hands the waiter its permits.
 *
 * @module
 */
import type { RedisClient } from "../client/client.ts";

/** A grant popped from a waiter's list. */
export interface Grant {
  /** The fencing token of the new lease. */
  token: number;
  /** Lease end by the server's clock (ms). */
  leaseEnd: number;
}

/** Parses a grant list entry, `token:leaseEnd`. */
export function parseGrant(value: string): Grant {
  const [token, leaseEnd] = value.split(":");
  return { token: Number(token), leaseEnd: Number(leaseEnd) };
}

/**
 * Blocks on the grant list `key` for up to `wakeMs`; resolves the grant, or
 * `null` when it is time to check again. Redis serves blocking timeouts
 * only at its `hz` tick (100 ms by default), so a short wake (a lease that
 * ends: crash recovery) is timed here instead and the BLPOP unblocked,
 * which costs one `CLIENT UNBLOCK` and keeps the slack to a few ms.
 */
export async function waitForGrant(
  client: RedisClient,
  key: string,
  wakeMs: number,
  signal: AbortSignal,
): Promise<Grant | null> {
  if (wakeMs >= 1_000) {
    const popped = await client.command(
      ["BLPOP", key, (wakeMs / 1000).toFixed(3)],
      { signal },
    ) as [string, string] | null;
    return popped && parseGrant(popped[1]);
  }
  const wake = new AbortController();
  const timer = setTimeout(() => wake.abort(), wakeMs);
  try {
    const popped = await client.command(["BLPOP", key, 1], {
      signal: AbortSignal.any([signal, wake.signal]),
    }) as [string, string] | null;
    return popped && parseGrant(popped[1]);
  } catch (error) {
    if (signal.aborted || !wake.signal.aborted) throw error;
    return null;
  } finally {
    clearTimeout(timer);
  }
}
