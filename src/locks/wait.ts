/**
 * Grants as they reach a waiter: a grant script wakes the waiter through
 * its client's wake hub (`src/client/wake_hub.ts`) with `token:leaseEnd`,
 * and the waiter turns that into a lease whose local deadline is never
 * later than the server's.
 *
 * @module
 */

/** A grant as the wake message carries it. */
export interface GrantMessage {
  /** The fencing token of the new lease. */
  token: number;
  /** Lease end by the server's clock (ms). */
  leaseEnd: number;
}

/** Parses a grant's wake message, `token:leaseEnd`. */
export function parseGrant(message: string): GrantMessage {
  const [token, leaseEnd] = message.split(":");
  return { token: Number(token), leaseEnd: Number(leaseEnd) };
}

/**
 * The least lease time a grant must still have when it reaches its waiter
 * (`min(1 s, leaseMs / 2)`); a grant read later than that (a process that
 * was paused, an event loop blocked) is renewed before it is handed out, so
 * a `Lease` never starts already ended or about to.
 */
export function grantMarginMs(leaseMs: number): number {
  return Math.min(1_000, Math.floor(leaseMs / 2));
}
