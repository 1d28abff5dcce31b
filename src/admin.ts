/**
 * # @redsync/core/admin
 *
 * The operator views, beside the primitives rather than among them: one
 * lock's state ({@linkcode inspect}), one event's ({@linkcode inspectEvent}),
 * every primitive under a prefix with its kind ({@linkcode listPrimitives}),
 * the primitives with live waiters ({@linkcode contended}), and the one write
 * an operator needs, {@linkcode forceRelease}. The `redsync` CLI
 * (`@redsync/core/cli`) is built on them. They work on a `RedisClient` from
 * `connect()` of `@redsync/core`, on one server, Sentinel or Cluster alike.
 *
 * @example Who holds a lock, and who waits
 * ```ts
 * import { connect } from "@redsync/core";
 * import { contended, inspect, listPrimitives } from "@redsync/core/admin";
 * await using redis = await connect();
 * for (const p of await listPrimitives(redis)) console.log(p.name, p.kinds.join(","));
 * for (const name of await contended(redis)) {
 *   const info = await inspect(redis, name);
 *   console.log(name, info.holders.length, "holders,", info.waiters, "waiting");
 * }
 * ```
 *
 * @module
 */
export {
  contended,
  type ContendedOptions,
  forceRelease,
  type ForceReleaseOptions,
  inspect,
  type InspectOptions,
  listPrimitives,
  type ListPrimitivesOptions,
  type PrimitiveKind,
  type PrimitiveSummary,
} from "./inspect.ts";
export {
  type AutoResetEventState,
  type EventKind,
  type EventState,
  type EventStateBase,
  inspectEvent,
  type InspectEventOptions,
  type ManualResetEventState,
} from "./inspect_event.ts";
