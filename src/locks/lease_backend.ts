/**
 * What a `Lease` needs from the primitive that issued it, and how it
 * renews itself (`src/locks/lease.ts`).
 *
 * @module
 */
import type { LockLostError } from "../errors.ts";

/**
 * What a lease needs from the primitive that issued it; `L` is the lease
 * type (`Lease`, which imports this file).
 */
export interface LeaseBackend<L> {
  /** Name of the primitive, for errors. */
  readonly name: string;
  /**
   * Runs the release script: 1 released, -1/0 was not held any more.
   * `atOnce`: in one command written now (for cleanups nobody awaits).
   */
  release(id: string, atOnce?: boolean): Promise<number>;
  /**
   * Releases in the background, retried until it lands or `untilMs`
   * (`performance.now()` time) makes it moot; the first attempt is written
   * now, as one `EVAL`.
   */
  releaseLater(id: string, untilMs: number): void;
  /** Runs the extend script: the new lease length in ms, 0 when not held. */
  extend(id: string, leaseMs: number): Promise<number>;
  /** Called once when the lease ends (released or lost), after `heldMs`. */
  settle(lease: L, lost: LockLostError | undefined, heldMs: number): void;
  /** A renewal succeeded. */
  renewed(lease: L): void;
  /** A renewal attempt failed; it is retried while the lease may live. */
  renewalFailed(lease: L, error: unknown): void;
  /** The client is closed: no command can be sent any more. */
  readonly closed: boolean;
}

/** How a lease renews itself. */
export interface LeaseTiming {
  /** Lease length asked for, in ms. */
  leaseMs: number;
  /** Renew in the background. */
  renew: boolean;
  /** Time left on the server when the grant was read (ms). */
  leftMs: number;
  /** `performance.now()` when the request that granted the lease was sent. */
  sentAt: number;
  /** Longest hold in ms from the lease's start (`LockOptions.maxHoldMs`). */
  maxHoldMs?: number;
}
