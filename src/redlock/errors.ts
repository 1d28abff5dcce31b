/**
 * What a {@linkcode Redlock} reports per node: the outcome of one round on
 * each of its servers ({@linkcode NodeOutcome}), and the error that carries
 * a whole round's outcomes ({@linkcode QuorumError}), which `withCause`
 * attaches to an aborted acquire's reason.
 *
 * @module
 */
import { RedsyncError } from "../errors.ts";

/**
 * What one node answered in one round of a `Redlock`:
 *
 * - `"acquired"`: the node holds the lock for us (for a renewal: the lease
 *   was extended there, or taken again there);
 * - `"taken"`: the node answered, and someone else holds the name there
 *   (for a renewal: our entry there is gone and the name is not free);
 * - `"unreachable"`: no connection to the node (it refused, dropped, or the
 *   client was reconnecting when the node's time was up): the command
 *   never ran, or its connection died under it;
 * - `"timeout"`: connected, but no answer within `nodeTimeoutMs` (a slow or
 *   frozen server): the command may still run there later;
 * - `"error"`: any other failure (an error reply, a semaphore of that name
 *   on that node, a closed client), in `error`.
 */
export type NodeOutcomeKind =
  | "acquired"
  | "taken"
  | "unreachable"
  | "timeout"
  | "error";

/** One node's outcome in one round of a `Redlock` (see {@linkcode NodeOutcomeKind}). */
export interface NodeOutcome {
  /** The node's address, as its client shows it (`client.url`: no credentials). */
  readonly url: string;
  /** What happened there. */
  readonly outcome: NodeOutcomeKind;
  /** The fencing token this node granted (`"acquired"` by an acquire only). */
  readonly token?: number;
  /** The error, for `"unreachable"`, `"timeout"` and `"error"`. */
  readonly error?: unknown;
}

/**
 * A `Redlock` could not get (or keep) its lock on a majority of its
 * servers. `outcomes` says what each server answered in the last round,
 * in the order of the clients given to the `Redlock`.
 *
 * Where it appears: as the `cause` of the `signal.reason` an `acquire()`
 * rejects with, when its signal aborted after at least one round failed; as
 * the rejection of `tryAcquire()` when no server reported the lock taken
 * (an outage, not contention); as the `cause` of the `LockLostError` a
 * lease's `signal` aborts with when a majority could not be kept; and as
 * the rejection of `lease.extend()` when a majority did not answer.
 *
 * @example
 * ```ts
 * import { connect, QuorumError, Redlock } from "@redsync/core";
 * await using a = await connect("redis://10.0.0.1:6379");
 * await using b = await connect("redis://10.0.0.2:6379");
 * await using c = await connect("redis://10.0.0.3:6379");
 * const lock = new Redlock([a, b, c], "nightly-report");
 * try {
 *   await using lease = await lock.acquire(AbortSignal.timeout(5_000));
 * } catch (error) {
 *   const cause = (error as Error).cause;
 *   if (cause instanceof QuorumError) {
 *     for (const node of cause.outcomes) console.log(node.url, node.outcome);
 *   }
 * }
 * ```
 */
export class QuorumError extends RedsyncError {
  /** Name of the lock. */
  readonly lockName: string;
  /** How many servers make a majority (`⌊N/2⌋ + 1`). */
  readonly quorum: number;
  /** Each server's outcome in the last round, in the order of the clients. */
  readonly outcomes: readonly NodeOutcome[];

  /**
   * Builds the error; `what` says what could not be done ("acquire",
   * "keep"), `note` why when a majority did answer (validity ran out).
   */
  constructor(
    lockName: string,
    quorum: number,
    outcomes: readonly NodeOutcome[],
    options?: ErrorOptions & { what?: string; note?: string },
  ) {
    const { what = "acquire", note, ...rest } = options ?? {};
    const list = outcomes.map((o) => `${o.url} ${o.outcome}`).join(", ");
    super(
      `Cannot ${what} '${lockName}' on a majority of ${quorum} of ${outcomes.length} servers${
        note ? ` (${note})` : ""
      }: ${list}`,
      rest,
    );
    this.name = "QuorumError";
    this.lockName = lockName;
    this.quorum = quorum;
    this.outcomes = outcomes;
  }
}

/**
 * @internal `reason`, with `failure` as its `cause` when it is an object
 * that has none of its own (an abort's `DOMException`, an `Error` without
 * one): the rejection stays `signal.reason` itself, and still tells what
 * each server answered (a `Redlock`'s acquire). Frozen or primitive
 * reasons are left as they are.
 */
export function withCause(
  reason: unknown,
  failure: QuorumError | undefined,
): unknown {
  if (failure === undefined || typeof reason !== "object" || reason === null) {
    return reason;
  }
  if (Object.hasOwn(reason, "cause") || !Object.isExtensible(reason)) {
    return reason;
  }
  try {
    Object.defineProperty(reason, "cause", {
      value: failure,
      writable: true,
      configurable: true,
    });
  } catch {
    // A proxy or exotic object refused it: the reason stays as it is.
  }
  return reason;
}
