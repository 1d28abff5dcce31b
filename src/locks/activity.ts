/**
 * What a primitive reports to its client: the eviction warning (once per
 * client and logger), and its activity, so that the client's `close()`
 * shuts down first what waits or holds.
 *
 * @module
 */
import { internalsOf, type RedisClient } from "../client/client.ts";
import type { Closable } from "../client/client_options.ts";
import type { LockLogger, Observer } from "../observe.ts";

/**
 * Warns once per client and logger if the server may evict lock keys (its
 * `maxmemory-policy` is not `noeviction`); without a logger, not even asked.
 */
export function warnIfEvicting(
  client: RedisClient,
  observer: Observer,
  logger: LockLogger | undefined,
): void {
  const internals = internalsOf(client);
  if (!logger || internals.evictionWarned.has(logger)) return;
  internals.evictionPolicy().then((policy) => {
    if (policy === undefined || policy === "noeviction") return;
    if (internals.evictionWarned.has(logger)) return;
    internals.evictionWarned.add(logger);
    observer.evictionWarning(policy);
  });
}

/**
 * Keeps a primitive registered with its client while it waits or holds,
 * so that the client's `close()` shuts it down first (releases, withdraws),
 * and unregistered when idle (primitives made per request are not kept).
 */
export class Activity {
  readonly #client: RedisClient;
  readonly #closable: Closable;
  readonly #holding: () => boolean;
  #pending = 0;
  #untrack: (() => void) | undefined;

  constructor(client: RedisClient, closable: Closable, holding: () => boolean) {
    this.#client = client;
    this.#closable = closable;
    this.#holding = holding;
  }

  /**
   * Throws while the client's `close()` runs (see `checkOpen`): what starts
   * then would not be released. A closed client is left to fail its calls.
   */
  checkNotClosing(): void {
    if (!this.#client.closed) internalsOf(this.#client).checkOpen();
  }

  /** An acquire starts. */
  begin(): void {
    this.#pending++;
    this.#untrack ??= internalsOf(this.#client).track(this.#closable);
  }

  /** An acquire ended (granted or not). */
  end(): void {
    this.#pending--;
    this.idle();
  }

  /** Unregisters when nothing waits and nothing is held. */
  idle(): void {
    if (this.#pending > 0 || this.#holding()) return;
    this.#untrack?.();
    this.#untrack = undefined;
  }
}
