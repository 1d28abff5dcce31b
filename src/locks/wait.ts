/**
 * Grants as they reach a waiter: a grant script wakes the waiter through
 * its client's wake hub (`hub.ts` in `src/topologies/single/` or
 * `cluster/`) with `token:leaseEnd`, and the waiter turns that into a lease
 * whose local deadline is never later than the server's.
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

/** Permits granted: the lease starts from `sentAt` + `leftMs`. */
export interface Grant {
  granted: true;
  token: number;
  /** Lease time left by the server's clock, from when it answered. */
  leftMs: number;
  /** `performance.now()` when the request that answered was sent. */
  sentAt: number;
}
export interface Waiting {
  granted: false;
  /** Ms until the first holder's lease ends, or -1. */
  wakeMs: number;
  /** Place in the queue (0: next), or -1 when not queued. */
  rank: number;
  /** The server's clock (ms) when it answered. */
  serverNow: number;
  /** `performance.now()` when the request was sent (before `serverNow`). */
  sentAt: number;
}
