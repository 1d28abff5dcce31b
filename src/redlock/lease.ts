/**
 * A lease of a `Redlock`: held on a majority of its servers, valid locally
 * until `validUntil`, renewed on every server in the background, lost (its
 * `signal` aborts) when a majority can no longer be kept.
 *
 * @module
 */
import { LockLostError, LockNotHeldError } from "../errors.ts";
import { checkInteger } from "../_internal/validate.ts";
import { QuorumError } from "./errors.ts";
import { hopeless, type RedlockNodes, type Round } from "./nodes.ts";
import { driftOf } from "./options.ts";

type State = "held" | "releasing" | "released" | "lost";

/** What the `Redlock` that issued a lease hears of it. */
export interface LeaseHooks {
  /** The lease ended (released, or `lost`) after being held `heldMs`. */
  settled(
    lease: RedlockLease,
    lost: LockLostError | undefined,
    heldMs: number,
  ): void;
  /** A renewal round kept the lease on a majority. */
  renewed(lease: RedlockLease): void;
  /** A renewal round failed; it is retried while the lease is valid. */
  renewalFailed(lease: RedlockLease, failure: QuorumError): void;
}

/** Set by `RedlockLease`'s static block: its constructor stays private. */
let construct: (
  nodes: RedlockNodes,
  id: string,
  round: Round,
  sent: ReadonlySet<number>,
  hooks: LeaseHooks,
) => RedlockLease;

/**
 * @internal Starts the lease of a successful round (the Redlock's factory);
 * `sent`: the servers that round's `ACQUIRE` was sent to.
 */
export function createRedlockLease(
  nodes: RedlockNodes,
  id: string,
  round: Round,
  sent: ReadonlySet<number>,
  hooks: LeaseHooks,
): RedlockLease {
  return construct(nodes, id, round, sent, hooks);
}

/**
 * The lock of a {@linkcode Redlock}, held on a majority of its servers
 * until released or lost. Use it with `await using`.
 *
 * **Validity.** `validUntil` is a `performance.now()` time: the start of
 * the last successful round (acquire or renewal) plus `leaseMs` minus the
 * drift allowance (`leaseMs * driftFactor + driftMs`). Every server of that
 * round's majority was asked after the round started, so each holds the
 * entry at least until then unless its clock runs faster than the
 * allowance. At `validUntil` the lease is lost unless renewed.
 *
 * **Fencing tokens.** `tokens[i]` is the token server `i` (in the order of
 * the clients) granted this lease, `undefined` where it did not answer
 * "acquired" within the round (down, slow, or held by someone else there):
 * defined on a majority at least. On each server, tokens strictly
 * increase from one grant to the next (its last token, as for a `Mutex`).
 * Two leases that were not held at the same time were granted on two
 * majorities, which share at least one server, where the later lease's
 * token is the larger. So a resource that keeps the largest token seen
 * from each server, and refuses a lease any of whose tokens is smaller
 * than the one kept for that server, refuses every stale holder.
 * `token`, the largest of `tokens`, is one number for logs and simple
 * resources: it grows from one holder to the next only as long as the
 * servers' clocks agree to within the time between the two acquisitions
 * (tokens follow each server's clock in µs); a server whose clock runs
 * ahead can make it go down. Not a fencing token across servers: compare
 * `tokens` for that. A renewal that takes a server again (its entry was
 * gone) does not change `tokens`.
 *
 * @example
 * ```ts
 * import { connect, Redlock } from "@redsync/core";
 * await using a = await connect("redis://10.0.0.1:6379");
 * await using b = await connect("redis://10.0.0.2:6379");
 * await using c = await connect("redis://10.0.0.3:6379");
 * const lock = new Redlock([a, b, c], "nightly-report", { leaseMs: 10_000 });
 * {
 *   await using lease = await lock.acquire(AbortSignal.timeout(5_000));
 *   console.log("tokens per server", lease.tokens, "valid for", lease.validityMs);
 *   await fetch("https://example.com/report", { signal: lease.signal });
 * } // released on every server here
 * ```
 */
export class RedlockLease implements AsyncDisposable {
  /** Name of the lock. */
  readonly name: string;
  /** Id of the lease on every server (what `inspect()` lists as a holder's id). */
  readonly id: string;
  /** Per-server fencing tokens, in the order of the clients (see above). */
  readonly tokens: readonly (number | undefined)[];
  /** The largest of `tokens` (see above for what it does not promise). */
  readonly token: number;
  /** Aborts with `LockLostError` (its `cause` a `QuorumError`, when known) when the lease is lost. */
  readonly signal: AbortSignal;

  readonly #nodes: RedlockNodes;
  readonly #hooks: LeaseHooks;
  readonly #acquiredAt = performance.now();
  readonly #controller = new AbortController();
  #state: State = "held";
  #validUntil: number;
  #renewTimer: ReturnType<typeof setTimeout> | undefined;
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #releasing: Promise<void> | undefined;
  /** Renewals and `extend()` run one at a time. */
  #rounds: Promise<unknown> = Promise.resolve();
  /** The outcomes of the last round that failed, for the loss's cause. */
  #lastFailure: QuorumError | undefined;
  /** The longest lease asked of any server: how long a release matters. */
  #longestMs: number;
  /** The servers an `ACQUIRE` of this lease was sent to: where to release. */
  readonly #sent: Set<number>;

  static {
    construct = (...args) => new RedlockLease(...args);
  }

  private constructor(
    nodes: RedlockNodes,
    id: string,
    round: Round,
    sent: ReadonlySet<number>,
    hooks: LeaseHooks,
  ) {
    this.#nodes = nodes;
    this.#sent = new Set(sent);
    this.#hooks = hooks;
    this.name = nodes.name;
    this.id = id;
    this.tokens = round.outcomes.map((o) => o.token);
    this.token = Math.max(
      ...this.tokens.filter((t): t is number => t !== undefined),
    );
    this.signal = this.#controller.signal;
    this.#validUntil = round.validUntil;
    this.#longestMs = nodes.options.leaseMs;
    this.#schedule();
  }

  /** `true` until the lease is released or lost. */
  get held(): boolean {
    return this.#state === "held";
  }

  /**
   * End of the validity, in `performance.now()` time (a duration's clock,
   * never a date); 0 once the lease is no longer held.
   */
  get validUntil(): number {
    return this.#state === "held" ? this.#validUntil : 0;
  }

  /** Validity left now, in ms (0 once the lease is no longer held). */
  get validityMs(): number {
    return Math.max(0, this.validUntil - performance.now());
  }

  /**
   * Gives the lock back on every server (every one an `ACQUIRE` of it was
   * sent to: no other can hold it); calling it again does nothing.
   * Waits at most `nodeTimeoutMs` for each server's answer; a server that
   * did not answer gets its release retried in the background until it
   * lands or the entry has lapsed. Rejects with `LockLostError` when the
   * lease was lost, or when a majority answered that it no longer held it.
   *
   * @example
   * ```ts
   * import { connect, Redlock } from "@redsync/core";
   * const clients = await Promise.all([6379, 6380, 6381].map((p) => connect({ port: p })));
   * const lease = await new Redlock(clients, "job").acquire();
   * try {
   *   // ... work
   * } finally {
   *   await lease.release();
   * }
   * ```
   */
  release(): Promise<void> {
    if (this.#state === "lost") return Promise.reject(this.signal.reason);
    this.#releasing ??= this.#release();
    return this.#releasing;
  }

  async #release(): Promise<void> {
    this.#state = "releasing";
    this.#clearTimers();
    const replies = await this.#nodes.releaseRound(
      this.id,
      this.#sent,
      this.#longestMs,
    );
    const gone = replies.filter((r) => r === 0 || r === -1).length;
    if (gone > replies.length - this.#nodes.quorum) {
      this.#lose(
        "The lease on '%s' had ended on a majority before it was released",
      );
      throw this.signal.reason;
    }
    this.#state = "released";
    this.#hooks.settled(this, undefined, performance.now() - this.#acquiredAt);
  }

  /**
   * Extends the lease on every server to `leaseMs` from now (the Redlock's
   * `leaseMs` by default), and its validity from the start of this round.
   * Rejects with `LockLostError` when the lease was lost (or is found lost:
   * a majority answered that it is gone), `LockNotHeldError` after a
   * release, and `QuorumError` when a majority did not answer in time (the
   * lease is still held until its validity ends; renewal goes on).
   *
   * @example
   * ```ts
   * import { connect, Redlock } from "@redsync/core";
   * const clients = await Promise.all([6379, 6380, 6381].map((p) => connect({ port: p })));
   * const lock = new Redlock(clients, "job", { renew: false, leaseMs: 10_000 });
   * await using lease = await lock.acquire();
   * await lease.extend(60_000); // one more minute
   * ```
   */
  async extend(leaseMs: number = this.#nodes.options.leaseMs): Promise<void> {
    checkInteger("extend", "leaseMs", leaseMs, 100, 2 ** 31 - 1);
    const { options } = this.#nodes;
    if (leaseMs - driftOf(options, leaseMs) - options.nodeTimeoutMs <= 0) {
      throw new RangeError(
        `Cannot extend as 'leaseMs' must exceed the drift allowance plus 'nodeTimeoutMs': current value is ${leaseMs}`,
      );
    }
    if (this.#state === "lost") throw this.signal.reason;
    if (this.#state !== "held") throw new LockNotHeldError(this.name);
    const failure = await this.#serialized(() => this.#renewRound(leaseMs));
    // The round (or one before it) may have ended the lease meanwhile.
    const state = this.#state as State;
    if (state === "lost") throw this.signal.reason;
    if (state !== "held") throw new LockNotHeldError(this.name);
    if (failure) throw failure;
  }

  /** Same as `release()`, except that a lost lease does not throw. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === "lost" || this.#state === "released") return;
    try {
      await this.release();
    } catch (error) {
      if (!(error instanceof LockLostError)) throw error;
    }
  }

  /** Runs `fn` after the round in flight, if any. */
  #serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#rounds.then(fn);
    this.#rounds = next.catch(() => {});
    return next;
  }

  /**
   * One renewal round on every server. Resolves `undefined` when a
   * majority renewed in time, else the round's `QuorumError` (the lease is
   * lost at once when that failure is final). Never rejects.
   */
  async #renewRound(leaseMs: number): Promise<QuorumError | undefined> {
    if (this.#state !== "held") return undefined;
    // A renewal may run late (a paused process): never revive a lease
    // whose validity already ended.
    if (performance.now() >= this.#validUntil) {
      this.#lose("The lease on '%s' ran out before it could be renewed");
      return undefined;
    }
    const nodes = this.#nodes;
    this.#longestMs = Math.max(this.#longestMs, leaseMs);
    const round = await nodes.round(
      nodes.extendOp(this.id, leaseMs),
      undefined,
      leaseMs,
    );
    if (this.#state !== "held") return undefined;
    if (round.ok) {
      this.#validUntil = round.validUntil;
      this.#lastFailure = undefined;
      this.#schedule();
      // A majority still had the entry: take back, where free, the servers
      // that lost it (a restart without persistence), so the lease keeps
      // its tolerance of failures. Not counted in this round's validity.
      round.outcomes.forEach((o, i) => {
        if (o.outcome !== "taken") return;
        this.#sent.add(i);
        nodes.retake(i, this.id, leaseMs);
      });
      this.#hooks.renewed(this);
      return undefined;
    }
    const outcomes = round.outcomes;
    const failure = new QuorumError(nodes.name, nodes.quorum, outcomes, {
      what: "keep",
    });
    if (this.#state !== "held") return failure;
    this.#lastFailure = failure;
    // A server that extended with a shorter lease may now end sooner.
    this.#validUntil = Math.min(this.#validUntil, round.validUntil);
    if (hopeless(outcomes, nodes.quorum, true)) {
      this.#lose("The lease on '%s' could not be kept on a majority", failure);
      return failure;
    }
    this.#hooks.renewalFailed(this, failure);
    this.#schedule(true);
    return failure;
  }

  /** (Re)arms the deadline and renewal timers; `retry`: soon (≤ 250 ms). */
  #schedule(retry = false): void {
    this.#clearTimers();
    if (this.#state !== "held") return;
    const left = Math.max(0, this.#validUntil - performance.now());
    this.#deadlineTimer = setTimeout(() => {
      this.#deadlineTimer = undefined;
      if (this.#state === "held") {
        this.#lose("The lease on '%s' ran out before it could be renewed");
      }
    }, left);
    if (!this.#nodes.options.renew) return;
    // After about a third of the validity left, with +-15% jitter.
    const delay = retry
      ? Math.min(250, left / 3)
      : left / 3 * (0.85 + 0.3 * Math.random());
    this.#renewTimer = setTimeout(() => {
      this.#renewTimer = undefined;
      // Never rejects (a round never does); caught all the same: a
      // timer must not throw.
      this.#serialized(() => this.#renewRound(this.#nodes.options.leaseMs))
        .catch(() => {});
    }, delay);
  }

  /** Marks the lease lost: aborts `signal`, tells the Redlock, releases where sent. */
  #lose(message: string, cause: unknown = this.#lastFailure): void {
    if (this.#state === "lost" || this.#state === "released") return;
    const releasing = this.#state === "releasing";
    this.#state = "lost";
    this.#clearTimers();
    const error = new LockLostError(
      this.name,
      message.replace("%s", this.name),
      cause === undefined ? undefined : { cause },
    );
    this.#controller.abort(error);
    this.#hooks.settled(this, error, performance.now() - this.#acquiredAt);
    // Locally given up: make sure no server keeps it either (a release in
    // progress has already sent that, retried in the background).
    if (!releasing) {
      this.#nodes.releaseAt(this.id, this.#sent, this.#longestMs);
    }
  }

  #clearTimers(): void {
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#deadlineTimer);
    this.#renewTimer = undefined;
    this.#deadlineTimer = undefined;
  }
}
