/**
 * The timed samples the lock cells take again and again: a `PING` (back to
 * back, or after idling), an `RPUSH` waking another client's `BLPOP` after
 * idling (the idle floor that the hand-off targets are set against), a
 * `PUBLISH` reaching another connection `SUBSCRIBE`d to its channel after
 * idling (the mechanism of our wake-ups without the lock and the hub), and
 * an uncontended acquire + release cycle. All in ms.
 *
 * @module
 */
import type { RedisClient } from "../../mod.ts";
import type { Held } from "./contenders.ts";
import type { RawSubscriber } from "./subscriber.ts";
import { sleepUntil, timed, within } from "./timing.ts";

/** One `PING` on `redis`, timed. */
export function timedPing(redis: RedisClient): Promise<number> {
  return timed(() => redis.send("PING"));
}

/** A `PING` on `redis` after `settleMs` of idling, timed. */
export async function idlePing(
  redis: RedisClient,
  settleMs: number,
): Promise<number> {
  await sleepUntil(performance.now() + settleMs);
  return await timedPing(redis);
}

/** `count` sequential `PING`s, timed one by one. */
export async function pings(
  redis: RedisClient,
  count: number,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await timedPing(redis));
  return samples;
}

/** `count` `PING`s, each after `settleMs` of idling. */
export async function idlePings(
  redis: RedisClient,
  count: number,
  settleMs: number,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    samples.push(await idlePing(redis, settleMs));
  }
  return samples;
}

/**
 * `count` times: `waiter` blocks in `BLPOP key`, `settleMs` of idling,
 * then `pusher` sends `RPUSH key`; the time from the `RPUSH` to the `BLPOP`
 * resolving.
 */
export async function idleWakes(
  waiter: RedisClient,
  pusher: RedisClient,
  key: string,
  count: number,
  settleMs: number,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    let start = NaN;
    const popped = waiter.send("BLPOP", key, 10).then(() =>
      performance.now() - start
    );
    await sleepUntil(performance.now() + settleMs);
    start = performance.now();
    await pusher.send("RPUSH", key, "x");
    samples.push(await within(popped, 15_000, "idle wake: BLPOP"));
  }
  return samples;
}

/**
 * `count` times: `settleMs` of idling, then `publisher` sends `PUBLISH` on
 * the channel `subscriber` listens to; the time from the `PUBLISH` to the
 * message reaching `subscriber`.
 */
export async function idlePublishes(
  publisher: RedisClient,
  subscriber: RawSubscriber,
  count: number,
  settleMs: number,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const got = subscriber.next();
    got.catch(() => {}); // awaited below; never left unhandled
    await sleepUntil(performance.now() + settleMs);
    const start = performance.now();
    await publisher.send("PUBLISH", subscriber.channel, "x");
    samples.push(
      (await within(got, 15_000, "idle publish: message")) - start,
    );
  }
  return samples;
}

/** One uncontended `acquire()` + `release()`, timed. */
export function timedCycle(acquire: () => Promise<Held>): Promise<number> {
  return timed(async () => {
    const held = await acquire();
    await held.release();
  });
}

/** `count` uncontended cycles, timed one by one. */
export async function timedCycles(
  acquire: () => Promise<Held>,
  count: number,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await timedCycle(acquire));
  return samples;
}
