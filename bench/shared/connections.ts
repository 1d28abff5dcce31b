/**
 * The connections of the lock cells that give every worker one of its own
 * (an own `RedisClient` for ours, with its blocking pool; an own ioredis
 * client for the other libraries): opened on demand, kept across cells,
 * closed at the end.
 *
 * @module
 */
import { connect, type RedisClient } from "../../mod.ts";
import { IoRedis } from "./npm.ts";

/** The connections of the benchmark, opened on demand, closed at the end. */
export class Connections {
  readonly url: string;
  /** A connection of ours that no worker uses: ZCARD, INFO. */
  readonly observer: RedisClient;
  readonly #ours: RedisClient[] = [];
  readonly #io: IoRedis[] = [];

  private constructor(url: string, observer: RedisClient) {
    this.url = url;
    this.observer = observer;
  }

  static async open(url: string): Promise<Connections> {
    return new Connections(url, await connect(url));
  }

  /**
   * Our clients 0..count-1, each with its own blocking pool, in which one
   * connection is already open (a BLPOP that returns at once), so that no
   * measured wait includes a connection setup.
   */
  async ours(count: number): Promise<RedisClient[]> {
    while (this.#ours.length < count) {
      const batch = Math.min(16, count - this.#ours.length);
      const opened = await Promise.allSettled(
        Array.from({ length: batch }, () => connect(this.url)),
      );
      const fresh: RedisClient[] = [];
      for (const result of opened) {
        if (result.status === "fulfilled") fresh.push(result.value);
      }
      this.#ours.push(...fresh);
      const failed = opened.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
      const key = `lockbench-pool-warmup-${crypto.randomUUID()}`;
      for (const client of fresh) {
        await this.observer.send("RPUSH", key, "x");
        await client.send("BLPOP", key, 1);
      }
    }
    return this.#ours.slice(0, count);
  }

  /** ioredis clients 0..count-1, at ioredis' defaults. */
  async io(count: number): Promise<IoRedis[]> {
    while (this.#io.length < count) {
      const batch = Math.min(16, count - this.#io.length);
      const clients = Array.from(
        { length: batch },
        () =>
          new IoRedis(this.url, {
            lazyConnect: true,
            // Fail instead of retrying for ever if the server goes away.
            maxRetriesPerRequest: 1,
            retryStrategy: () => null,
          }),
      );
      this.#io.push(...clients);
      await Promise.all(clients.map((client) => client.connect()));
    }
    return this.#io.slice(0, count);
  }

  async close(): Promise<void> {
    const io = this.#io.splice(0);
    const ours = this.#ours.splice(0);
    await Promise.allSettled([
      ...io.map(async (client) => {
        try {
          await client.quit();
        } finally {
          client.disconnect();
        }
      }),
      ...ours.map((client) => client.close()),
      this.observer.close(),
    ]);
  }
}
