/**
 * The servers of a `Redlock`, and the one thing done on all of them at
 * once: a round. Each server runs the single-server lock scripts of
 * `src/locks/scripts.ts` on the keys of a `Mutex` of the same name
 * (`keysOf(prefix, name)`), as a mutex of one permit: `ACQUIRE` in `try`
 * mode, `EXTEND` (and, where our entry is gone, `ACQUIRE` again) to renew,
 * `RELEASE` to give back. So each server's state is the state of a `Mutex`
 * there: `inspect()` reads it, and each server's fencing tokens come from
 * its own last token.
 *
 * @module
 */
import { internalsOf, type RedisClient } from "../client/client.ts";
import {
  ConnectionError,
  RedisReplyError,
  SemaphoreMismatchError,
} from "../errors.ts";
import { backoff, pause } from "../_internal/async.ts";
import { isTransientError } from "../_internal/transient.ts";
import { keysOf, type LockKeys } from "../locks/keys.ts";
import { ACQUIRE, RELEASE } from "../locks/scripts.ts";
import { EXTEND } from "../locks/scripts.ts";
import type { NodeOutcome } from "./errors.ts";
import { driftOf, type ResolvedRedlockOptions } from "./options.ts";

/** What one server answered an operation of a round. */
export interface NodeAnswer {
  outcome: "acquired" | "taken";
  token?: number;
}

/** One operation of a round, on one server. */
export type NodeOp = (
  client: RedisClient,
  signal: AbortSignal,
) => Promise<NodeAnswer>;

/** A round, once every server answered or ran out of time. */
export interface Round {
  /** A majority acquired, and the validity had not run out by the end. */
  ok: boolean;
  /** `performance.now()` when the round's commands were sent. */
  startedAt: number;
  /** Local end of the validity: `startedAt + leaseMs - drift`. */
  validUntil: number;
  /** Each server's outcome, in the order of the clients. */
  outcomes: readonly NodeOutcome[];
}

/** Unused by `ACQUIRE` in `try` mode (it never queues); any valid value. */
const WAITER_TTL_MS = 10_000;

/** The servers of one Redlock name. */
export class RedlockNodes {
  readonly name: string;
  readonly clients: readonly RedisClient[];
  /** `⌊N/2⌋ + 1`. */
  readonly quorum: number;
  readonly options: ResolvedRedlockOptions;
  readonly #keys: LockKeys;
  /** Where each client's scripts wake waiters (see `Topology.wakePrefix`). */
  readonly #wakePrefixes: Map<RedisClient, string>;

  constructor(
    clients: readonly RedisClient[],
    name: string,
    options: ResolvedRedlockOptions,
  ) {
    this.clients = clients;
    this.name = name;
    this.options = options;
    this.quorum = Math.floor(clients.length / 2) + 1;
    this.#keys = keysOf(options.prefix, name);
    this.#wakePrefixes = new Map(clients.map((client) => [
      client,
      internalsOf(client).wakePrefix(options.prefix, this.#keys.base),
    ]));
  }

  #wakePrefix(client: RedisClient): string {
    return this.#wakePrefixes.get(client)!;
  }

  /**
   * Runs `op` on every server at once, each given `nodeTimeoutMs` (and
   * `signal`, which aborts them all), and resolves once every server
   * answered or ran out of time: a round lasts at most `nodeTimeoutMs`. A
   * server whose connection is down (its client reconnecting, or a `lazy`
   * client between attempts) is not asked at all: it counts as
   * "unreachable" at once, and no command of this round can reach it
   * later. A `lazy` client's attempt under way is waited for, like a slow
   * server, within `nodeTimeoutMs`. `sent` gets, before this returns, the index
   * of every server `op` was run on (where its command may land).
   */
  round(
    op: NodeOp,
    signal?: AbortSignal,
    leaseMs: number = this.options.leaseMs,
    sent?: Set<number>,
  ): Promise<Round> {
    const { clients, quorum } = this;
    const startedAt = performance.now();
    const validUntil = startedAt + leaseMs - driftOf(this.options, leaseMs);
    const timer = new AbortController();
    const handle = setTimeout(() => timer.abort(), this.options.nodeTimeoutMs);
    const nodeSignal = signal
      ? AbortSignal.any([signal, timer.signal])
      : timer.signal;
    const answers = clients.map((client, i) => {
      if (
        !client.closed && !this.#connected(client) &&
        !internalsOf(client).connecting(this.#keys.script[0])
      ) {
        return Promise.resolve(this.#unreachable(client));
      }
      sent?.add(i);
      let answer: Promise<NodeAnswer>;
      try {
        answer = op(client, nodeSignal);
      } catch (error) {
        answer = Promise.reject(error);
      }
      return answer.then(
        (reply): NodeOutcome => ({ url: client.url, ...reply }),
        (error) => this.#classify(client, error, timer.signal),
      );
    });
    return Promise.all(answers).then((outcomes) => {
      clearTimeout(handle);
      const acquired = outcomes.filter((o) => o.outcome === "acquired");
      const ok = acquired.length >= quorum && performance.now() < validUntil;
      return { ok, startedAt, validUntil, outcomes };
    });
  }

  /** Whether the main connection to `client`'s server is open now. */
  #connected(client: RedisClient): boolean {
    return internalsOf(client).loadedScripts(this.#keys.script[0]) !==
      undefined;
  }

  #unreachable(client: RedisClient): NodeOutcome {
    const url = client.url;
    return {
      url,
      outcome: "unreachable",
      error: new ConnectionError(
        `Not connected to ${url} (connecting in the background)`,
      ),
    };
  }

  /** What went wrong on one server. */
  #classify(
    client: RedisClient,
    error: unknown,
    timedOut: AbortSignal,
  ): NodeOutcome {
    const url = client.url;
    if (
      client.closed || error instanceof RedisReplyError ||
      error instanceof SemaphoreMismatchError
    ) {
      return { url, outcome: "error", error };
    }
    if (error instanceof ConnectionError) {
      return { url, outcome: "unreachable", error };
    }
    if (!timedOut.aborted) return { url, outcome: "error", error };
    // The connection went down meanwhile: the command never left.
    if (!this.#connected(client)) return this.#unreachable(client);
    const ms = this.options.nodeTimeoutMs;
    return {
      url,
      outcome: "timeout",
      error: new DOMException(
        `No answer from ${url} within ${ms} ms`,
        "TimeoutError",
      ),
    };
  }

  /** Acquires `id` on one server (a fresh id: it cannot hold yet). */
  acquireOp(id: string, leaseMs: number = this.options.leaseMs): NodeOp {
    return (client, signal) => this.#take(client, id, leaseMs, signal, "1");
  }

  /**
   * Renews `id` on one server with `EXTEND`: "acquired" when extended,
   * "taken" when our entry is gone there (ended, removed, or the server
   * restarted without it).
   */
  extendOp(id: string, leaseMs: number = this.options.leaseMs): NodeOp {
    return async (client, signal) => {
      const keys = this.#keys;
      const left = await EXTEND.run(client, keys.script, [
        id,
        leaseMs,
        1,
        this.#wakePrefix(client),
      ], { signal });
      return { outcome: left > 0 ? "acquired" : "taken" };
    };
  }

  /**
   * Takes `id` again on server `i`, where our entry is gone (it restarted
   * without it, or our first `ACQUIRE` there did not land), if the name is
   * free there: called only after a majority renewed, so the lease keeps
   * its tolerance of failures. Best effort, never awaited, never rejects.
   */
  retake(i: number, id: string, leaseMs: number = this.options.leaseMs): void {
    // No timeout of ours: the server just answered; the client's own
    // command timeout bounds it.
    this.#take(this.clients[i], id, leaseMs, undefined, "0").catch(() => {});
  }

  async #take(
    client: RedisClient,
    id: string,
    leaseMs: number,
    signal: AbortSignal | undefined,
    fresh: "1" | "0",
  ): Promise<NodeAnswer> {
    const keys = this.#keys;
    const reply = await ACQUIRE.run(client, keys.script, [
      id,
      1,
      1,
      leaseMs,
      "try",
      WAITER_TTL_MS,
      0,
      this.#wakePrefix(client),
      "0",
      fresh,
    ], { signal });
    if (typeof reply === "number") return { outcome: "acquired", token: reply };
    if (reply[0] === 1) return { outcome: "acquired", token: reply[1] };
    if (reply[0] === 0) return { outcome: "taken" };
    throw new SemaphoreMismatchError(this.name, reply[1], 1);
  }

  /**
   * Sends `RELEASE id` to server `i` now, as one `EVAL`. Resolves with its
   * reply (1 released, -1 had ended, 0 not held), or `undefined` when it
   * failed; a transient failure is retried in the background, with
   * backoff, until it lands, `untilMs` (`performance.now()` time) has made
   * it moot (the entry's own TTL), or the client closes. Never rejects.
   */
  releaseOn(
    i: number,
    id: string,
    untilMs: number,
  ): Promise<number | undefined> {
    const client = this.clients[i];
    return this.#release(client, id).catch((error) => {
      this.#releaseLater(client, id, untilMs, error);
      return undefined;
    });
  }

  #release(client: RedisClient, id: string): Promise<number> {
    return RELEASE.run(client, this.#keys.script, [
      id,
      1,
      this.#wakePrefix(client),
    ], { evalOnly: true });
  }

  /** The retries of a release; never throws (nobody awaits it). */
  async #releaseLater(
    client: RedisClient,
    id: string,
    untilMs: number,
    error: unknown,
  ): Promise<void> {
    const { closing } = internalsOf(client);
    const pauses = backoff({ minMs: 50, maxMs: 1_000, jitter: 0.5 });
    while (
      isTransientError(error) && !client.closed && performance.now() < untilMs
    ) {
      if (!(await pause(pauses.next().value!, closing))) return;
      try {
        await this.#release(client, id);
        return;
      } catch (next) {
        error = next;
      }
    }
  }

  /** When background releases may stop: the entries have lapsed by then. */
  releaseDeadline(leaseMs: number = this.options.leaseMs): number {
    return performance.now() + leaseMs + 2_000;
  }

  /**
   * Releases `id` on the servers `where` (those an `ACQUIRE` of it was sent
   * to: no other can hold it), without waiting (see `releaseOn`).
   */
  releaseAt(
    id: string,
    where: Iterable<number>,
    leaseMs: number = this.options.leaseMs,
  ): void {
    const until = this.releaseDeadline(leaseMs);
    for (const i of where) void this.releaseOn(i, id, until);
  }

  /**
   * Releases `id` on the servers `where` (see `releaseAt`) and waits for
   * the answers, each at most `nodeTimeoutMs`: each server's reply, in the
   * order of the clients, `undefined` where none came in time (those go on
   * in the background) and for the servers not in `where`.
   */
  async releaseRound(
    id: string,
    where: ReadonlySet<number>,
    leaseMs: number = this.options.leaseMs,
  ): Promise<(number | undefined)[]> {
    const until = this.releaseDeadline(leaseMs);
    const replies = this.clients.map((_, i) =>
      where.has(i) ? this.releaseOn(i, id, until) : Promise.resolve(undefined)
    );
    let handle: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<undefined>((resolve) => {
      handle = setTimeout(() => resolve(undefined), this.options.nodeTimeoutMs);
    });
    try {
      return await Promise.all(replies.map((r) => Promise.race([r, late])));
    } finally {
      clearTimeout(handle);
    }
  }
}

/**
 * Whether no majority can be had while these outcomes last: more servers
 * than a minority answered "taken" (renewals) or failed for good: an
 * "error" other than a transient reply (`LOADING`, `BUSY`, ...), such as a
 * script error, a semaphore of that name, or a closed client.
 */
export function hopeless(
  outcomes: readonly NodeOutcome[],
  quorum: number,
  countTaken: boolean,
): boolean {
  const lost = outcomes.filter((o) =>
    (countTaken && o.outcome === "taken") ||
    (o.outcome === "error" &&
      !(o.error instanceof RedisReplyError && isTransientError(o.error)))
  ).length;
  return lost > outcomes.length - quorum;
}
