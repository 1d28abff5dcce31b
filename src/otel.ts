/**
 * OpenTelemetry for the lock primitives, without a dependency: give it the
 * `Tracer` and `Meter` your application already has (`@opentelemetry/api`
 * objects; they are typed here by the few members used, so this package
 * depends on nothing).
 *
 * - **Metrics**, through the `metrics` option of `Mutex`, `Semaphore`,
 *   `ReadWriteLock` and `Redlock` ({@linkcode LockTelemetry.metrics}):
 *   histograms `redsync.lock.wait.duration` and `redsync.lock.hold.duration`
 *   (seconds), counters `redsync.lock.timeouts`, `redsync.lock.lost` and
 *   `redsync.lock.renewal_failures`.
 * - **Spans**, from a primitive's events ({@linkcode LockTelemetry.instrument}):
 *   `redsync.lock.acquire` per acquire that got a lease or gave up (its
 *   duration is the wait), `redsync.lock.hold` per lease, from its grant to
 *   its release or loss.
 *
 * @example
 * ```ts
 * import { connect, Mutex } from "@redsync/core";
 * import { lockTelemetry, type OtelMeter, type OtelTracer } from "@redsync/core/otel";
 *
 * // tracer = trace.getTracer("billing"), meter = metrics.getMeter("billing")
 * export async function billing(tracer: OtelTracer, meter: OtelMeter) {
 *   const telemetry = lockTelemetry({ tracer, meter });
 *   await using redis = await connect();
 *   const mutex = new Mutex(redis, "billing", { metrics: telemetry.metrics });
 *   using _spans = telemetry.instrument(mutex);
 *   await mutex.runExclusive(() => console.log("billed"), { wait: 5_000 });
 * }
 * ```
 *
 * @module
 */
import type { LockEventTarget, LockMetrics } from "./observe.ts";
import { lockMetrics } from "./otel/metrics.ts";
import { instrument, type InstrumentedLock } from "./otel/spans.ts";
import type { OtelMeter, OtelTracer } from "./otel/types.ts";

export type {
  OtelAttributes,
  OtelAttributeValue,
  OtelCounter,
  OtelHistogram,
  OtelMeter,
  OtelMetricOptions,
  OtelSpan,
  OtelTracer,
} from "./otel/types.ts";
export type { InstrumentedLock } from "./otel/spans.ts";

/**
 * Options of {@linkcode lockTelemetry}.
 *
 * @example Metrics only, one time series for every `tenant:<id>` lock
 * ```ts
 * import type { LockTelemetryOptions, OtelMeter } from "@redsync/core/otel";
 * export function options(meter: OtelMeter): LockTelemetryOptions {
 *   return { meter, metricName: (name) => name.replace(/^tenant:.*$/, "tenant:*") };
 * }
 * ```
 */
export interface LockTelemetryOptions {
  /**
   * Where spans go; without it, {@linkcode LockTelemetry.instrument} records
   * none.
   * @default {undefined}
   */
  tracer?: OtelTracer;
  /**
   * Where metrics go; without it, {@linkcode LockTelemetry.metrics} records
   * none.
   * @default {undefined}
   */
  meter?: OtelMeter;
  /**
   * The `redsync.lock.name` of a measurement, from the lock's name: return
   * a group (`"account:*"` for `"account:42"`) to keep the number of time
   * series bounded when names are made of ids, or `undefined` to leave the
   * attribute out. Spans always carry the whole name.
   * @default {(name) => name}
   */
  metricName?: (lockName: string) => string | undefined;
}

/**
 * Metrics and spans for lock primitives, from {@linkcode lockTelemetry}:
 * pass `metrics` to each primitive and call `instrument()` on it.
 *
 * @example One telemetry for several primitives
 * ```ts
 * import { connect, ReadWriteLock, Semaphore } from "@redsync/core";
 * import { lockTelemetry, type OtelMeter, type OtelTracer } from "@redsync/core/otel";
 * export async function service(tracer: OtelTracer, meter: OtelMeter) {
 *   const telemetry = lockTelemetry({ tracer, meter });
 *   await using redis = await connect();
 *   const config = new ReadWriteLock(redis, "config", { metrics: telemetry.metrics });
 *   const pool = await Semaphore.create(redis, "pool", {
 *     permits: 4,
 *     metrics: telemetry.metrics,
 *   });
 *   using _config = telemetry.instrument(config);
 *   using _pool = telemetry.instrument(pool);
 *   await using reading = await config.read(AbortSignal.timeout(5_000));
 *   await using permit = await pool.acquire(AbortSignal.timeout(5_000));
 * }
 * ```
 */
export interface LockTelemetry {
  /**
   * The primitives' `metrics` option: records waits and holds (seconds),
   * timeouts, lost leases and renewal failures.
   */
  readonly metrics: LockMetrics;
  /**
   * Records a span per acquire and per hold of `primitive` (a `Mutex`,
   * `Semaphore`, `ReadWriteLock` or `Redlock`), from its events, until the
   * result is disposed.
   */
  instrument(primitive: LockEventTarget): InstrumentedLock;
}

/**
 * OpenTelemetry metrics and spans for lock primitives, on the `tracer` and
 * `meter` the application has. Nothing is imported from OpenTelemetry:
 * objects of `@opentelemetry/api` (1.x) fit the structural types.
 *
 * Metrics (`metrics`, the primitives' `metrics` option), each with
 * `redsync.lock.name` (see `metricName`):
 * - `redsync.lock.wait.duration` (histogram, `s`): every wait, with
 *   `redsync.lock.outcome` `acquired`, `aborted` or `unavailable` (a
 *   `tryAcquire()` that found no free permit);
 * - `redsync.lock.hold.duration` (histogram, `s`): every lease that ended;
 * - `redsync.lock.timeouts` (counter): waits that ended without a lease
 *   (their signal aborted: a timeout, a cancel, a dispose; or an error);
 * - `redsync.lock.lost` (counter): leases lost;
 * - `redsync.lock.renewal_failures` (counter, with `error.type`): renewal
 *   attempts that failed (the lease may still be saved by a retry).
 *
 * Spans (`instrument(primitive)`), children of the context active where
 * the acquire ran, with `redsync.lock.name`, `redsync.lock.kind` (`mutex`,
 * `semaphore`, `read-write-lock`, `redlock`; `redsync.lock.mode` `read` or
 * `write` for a read-write lock), `redsync.lease.id`, `redsync.lease.permits`
 * and `redsync.lock.outcome`:
 * - `redsync.lock.acquire`: from the start of an acquire to its lease
 *   (`acquired`, with `redsync.lease.token`) or to its end without one
 *   (`timeout`, status error, `error.type` the abort reason's name); a
 *   `tryAcquire()` that got nothing has no span;
 * - `redsync.lock.hold`: from the grant to the release (`released`) or the
 *   loss (`lost`, status error), with `redsync.lease.token`.
 *
 * @example
 * ```ts
 * import { connect, Semaphore } from "@redsync/core";
 * import { lockTelemetry, type OtelMeter, type OtelTracer } from "@redsync/core/otel";
 *
 * // With @opentelemetry/api: trace.getTracer("api"), metrics.getMeter("api")
 * export async function partnerCalls(tracer: OtelTracer, meter: OtelMeter) {
 *   // Lock names such as "tenant:42": one time series for all of them.
 *   const telemetry = lockTelemetry({
 *     tracer,
 *     meter,
 *     metricName: (name) => name.replace(/:.*$/, ":*"),
 *   });
 *   await using redis = await connect();
 *   const pool = await Semaphore.create(redis, "tenant:42", {
 *     permits: 4,
 *     metrics: telemetry.metrics,
 *   });
 *   using _spans = telemetry.instrument(pool);
 *   await using permit = await pool.acquire(AbortSignal.timeout(5_000));
 * }
 * ```
 */
export function lockTelemetry(
  options: LockTelemetryOptions = {},
): LockTelemetry {
  const { tracer, meter } = options;
  const metricName = options.metricName ?? ((name: string) => name);
  return {
    metrics: meter ? lockMetrics(meter, metricName) : {},
    instrument: (primitive) => instrument(primitive, tracer),
  };
}
