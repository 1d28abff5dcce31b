/**
 * The operator view of one event in Redis ({@linkcode inspectEvent}, in the
 * `@redsync/core/admin` entry point): what `inspect()` is to the locks, for
 * `ManualResetEvent` and `AutoResetEvent` (the CLI's `info` on an event).
 *
 * @module
 */
import { checkClient, type RedisClient } from "./client/client.ts";
import {
  AUTO_EVENT_KEYS,
  checkName,
  DEFAULT_PREFIX,
  keyBase,
  MANUAL_EVENT_KEYS,
} from "./locks/keys.ts";
import { AUTO_INSPECT, MANUAL_INSPECT } from "./events/scripts.ts";

/** The kinds of event: what {@linkcode inspectEvent} reads. */
export type EventKind = "manual-reset-event" | "auto-reset-event";

/**
 * Options of {@linkcode inspectEvent}.
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * import { inspectEvent, type InspectEventOptions } from "@redsync/core/admin";
 * await using redis = await connect();
 * const options: InspectEventOptions = { prefix: "billing" };
 * console.log((await inspectEvent(redis, "jobs", "auto-reset-event", options)).pending);
 * ```
 */
export interface InspectEventOptions {
  /**
   * The key prefix the event was created with (its `prefix` option).
   *
   * @default {"redsync"}
   */
  prefix?: string;
}

/** What an event's state has, whatever its kind. */
export interface EventStateBase {
  /** The event's name. */
  name: string;
  /** The key prefix. */
  prefix: string;
  /** Waiters with a live heartbeat (crashed waiters drop out by themselves). */
  waiters: number;
  /** The server's clock when read (ms since the epoch). */
  serverTime: number;
  /** PTTL of each key in ms: -1 no TTL, -2 absent. */
  keyTtls: Record<string, number>;
}

/** A `ManualResetEvent`'s state at one instant ({@linkcode inspectEvent}). */
export interface ManualResetEventState extends EventStateBase {
  /** Its kind. */
  kind: "manual-reset-event";
  /** Set now: every `wait()` passes until `clear()`. */
  isSet: boolean;
}

/** An `AutoResetEvent`'s state at one instant ({@linkcode inspectEvent}). */
export interface AutoResetEventState extends EventStateBase {
  /** Its kind. */
  kind: "auto-reset-event";
  /** Signals set while nobody waited, each for one later `wait()`. */
  pending: number;
  /** Signals handed to a waiter that has not claimed it yet. */
  granted: number;
}

/** An event's state, as {@linkcode inspectEvent} reads it. */
export type EventState = ManualResetEventState | AutoResetEventState;

/**
 * Reads the state of the event `name` of kind `kind` in one atomic
 * script: set or not (a `ManualResetEvent`), the signals pending and
 * handed out (an `AutoResetEvent`), live waiters and key TTLs. An event
 * with no key at all reads as not set, every TTL -2 (absent).
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * import { inspectEvent } from "@redsync/core/admin";
 * await using redis = await connect();
 * const ready = await inspectEvent(redis, "cache-warmed", "manual-reset-event");
 * console.log(ready.isSet ? "set" : "not set", ready.waiters, "waiting");
 * ```
 */
export function inspectEvent(
  client: RedisClient,
  name: string,
  kind: "manual-reset-event",
  options?: InspectEventOptions,
): Promise<ManualResetEventState>;
/**
 * Reads the state of the `AutoResetEvent` `name`: the signals pending and
 * handed out, live waiters and key TTLs (see the first overload).
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * import { inspectEvent } from "@redsync/core/admin";
 * await using redis = await connect();
 * const jobs = await inspectEvent(redis, "jobs", "auto-reset-event");
 * console.log(jobs.pending, "pending,", jobs.waiters, "waiting");
 * ```
 */
export function inspectEvent(
  client: RedisClient,
  name: string,
  kind: "auto-reset-event",
  options?: InspectEventOptions,
): Promise<AutoResetEventState>;
/**
 * Reads the state of the event `name` of kind `kind`, whichever it is
 * (see the first overload).
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * import { type EventKind, inspectEvent } from "@redsync/core/admin";
 * await using redis = await connect();
 * const kind: EventKind = "manual-reset-event";
 * console.log((await inspectEvent(redis, "go", kind)).waiters);
 * ```
 */
export function inspectEvent(
  client: RedisClient,
  name: string,
  kind: EventKind,
  options?: InspectEventOptions,
): Promise<EventState>;
export async function inspectEvent(
  client: RedisClient,
  name: string,
  kind: EventKind,
  options: InspectEventOptions = {},
): Promise<EventState> {
  checkClient("inspect an event", client);
  checkName("inspect", name);
  const { prefix = DEFAULT_PREFIX } = options;
  const base = keyBase(prefix, name);
  if (kind === "manual-reset-event") {
    const keys = MANUAL_EVENT_KEYS.map((suffix) => `${base}:${suffix}`);
    const [serverTime, isSet, waiters, ttls] = await MANUAL_INSPECT.run(
      client,
      keys,
    );
    return {
      name,
      prefix,
      kind,
      isSet: isSet === 1,
      waiters,
      serverTime,
      keyTtls: ttlsOf(MANUAL_EVENT_KEYS, ttls),
    };
  }
  if (kind !== "auto-reset-event") {
    throw new TypeError(
      `Cannot inspect as 'kind' must be "manual-reset-event" or "auto-reset-event": current value is ${
        JSON.stringify(kind)
      }`,
    );
  }
  const keys = AUTO_EVENT_KEYS.map((suffix) => `${base}:${suffix}`);
  const [serverTime, pending, waiters, granted, ttls] = await AUTO_INSPECT
    .run(client, keys);
  return {
    name,
    prefix,
    kind,
    pending,
    granted,
    waiters,
    serverTime,
    keyTtls: ttlsOf(AUTO_EVENT_KEYS, ttls),
  };
}

function ttlsOf(
  suffixes: readonly string[],
  ttls: number[],
): Record<string, number> {
  return Object.fromEntries(suffixes.map((k, i) => [k, ttls[i]]));
}
