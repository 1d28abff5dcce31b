/**
 * A hint that makes following a failover faster: one connection to a
 * sentinel, subscribed to `+switch-master`. When the sentinels announce a
 * new primary for our master, the client drops its connections, whose
 * successors resolve the new one. It is only a hint: reconnects, `ROLE` and
 * `READONLY` follow a failover without it (a message lost while this
 * connection is down changes nothing else).
 *
 * @module
 */
import { abortable, backoff, deferred, pause } from "../../_internal/async.ts";
import type { RedisReply } from "../../resp/types.ts";
import { Connection } from "../../client/connection.ts";
import type { ResolvedOptions } from "../../client/options.ts";
import type { ResolvedSentinel } from "./options.ts";
import { sentinelNodeOptions } from "./resolver.ts";

/** Watches `+switch-master` for one master; `onSwitch` on each change. */
export class SentinelWatcher {
  readonly #options: ResolvedOptions;
  readonly #sentinel: ResolvedSentinel;
  readonly #onSwitch: () => void;
  readonly #stop = new AbortController();
  #connection: Connection | undefined;
  #loop: Promise<void> | undefined;

  constructor(
    options: ResolvedOptions,
    sentinel: ResolvedSentinel,
    onSwitch: () => void,
  ) {
    this.#options = options;
    this.#sentinel = sentinel;
    this.#onSwitch = onSwitch;
  }

  /** Starts watching (in the background; never throws). */
  start(): void {
    this.#loop ??= this.#run().catch(() => {});
  }

  async #run(): Promise<void> {
    const delays = backoff({ minMs: 100, maxMs: 5_000, jitter: 0.5 });
    const signal = this.#stop.signal;
    for (let turn = 0; !signal.aborted; turn++) {
      const nodes = this.#sentinel.nodes;
      const node = nodes[turn % nodes.length];
      const lost = deferred<void>();
      try {
        const connection = await Connection.open(
          // RESP2: messages come as plain replies no command waits for.
          sentinelNodeOptions(this.#options, this.#sentinel, node, {
            protocol: 2,
          }),
          {
            onLost: () => lost.resolve(),
            onUnsolicited: (reply) => this.#onMessage(reply),
          },
          signal,
        );
        this.#connection = connection;
        await connection.request(["SUBSCRIBE", "+switch-master"]);
        await abortable(lost.promise, signal);
      } catch {
        // Unreachable sentinel: the next one, after a pause.
      } finally {
        this.#connection?.close();
        this.#connection = undefined;
      }
      if (!(await pause(delays.next().value!, signal))) return;
    }
  }

  /** `["message", "+switch-master", "<name> <old ip> <old port> <ip> <port>"]`. */
  #onMessage(reply: RedisReply): void {
    if (!Array.isArray(reply) || reply[0] !== "message") return;
    const [name] = String(reply[2]).split(" ");
    if (name === this.#sentinel.name) this.#onSwitch();
  }

  /** Stops watching and closes the connection. */
  async close(): Promise<void> {
    this.#stop.abort();
    await Promise.all([this.#connection?.close(), this.#loop]);
  }
}
