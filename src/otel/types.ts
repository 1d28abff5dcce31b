/**
 * The OpenTelemetry API, typed by the few members `src/otel.ts` calls: an
 * `@opentelemetry/api` (1.x) `Tracer`, `Span`, `Meter`, `Histogram` and
 * `Counter` fit these, so the package imports nothing of OpenTelemetry.
 *
 * @module
 */

/**
 * An attribute value, as OpenTelemetry's `AttributeValue` (scalars).
 *
 * @example
 * ```ts
 * import type { OtelAttributeValue } from "@redsync/core/otel";
 * const permits: OtelAttributeValue = 2;
 * ```
 */
export type OtelAttributeValue = string | number | boolean;

/**
 * Attributes of a span or a measurement.
 *
 * @example
 * ```ts
 * import type { OtelAttributes } from "@redsync/core/otel";
 * const attributes: OtelAttributes = { "redsync.lock.name": "billing" };
 * ```
 */
export type OtelAttributes = Record<string, OtelAttributeValue | undefined>;

/**
 * The members of an OpenTelemetry `Span` used here: an `@opentelemetry/api`
 * `Span` is one.
 *
 * @example A span that prints itself (see {@linkcode OtelTracer})
 * ```ts
 * import type { OtelSpan } from "@redsync/core/otel";
 * const span: OtelSpan = {
 *   setAttribute: (key, value) => console.log(key, value),
 *   setStatus: (status) => console.log(status.code, status.message),
 *   end: (endTime) => console.log("ended at", endTime),
 * };
 * ```
 */
export interface OtelSpan {
  /** Sets one attribute. */
  setAttribute(key: string, value: OtelAttributeValue): unknown;
  /** Sets the status: `code` 2 is `SpanStatusCode.ERROR`. */
  setStatus(status: { code: number; message?: string }): unknown;
  /** Ends the span, at `endTime` (ms since the epoch). */
  end(endTime?: number): void;
}

/**
 * The member of an OpenTelemetry `Tracer` used here: an `@opentelemetry/api`
 * `Tracer` (`trace.getTracer(name)`) is one.
 *
 * @example Without OpenTelemetry: spans printed as they end
 * ```ts
 * import type { OtelTracer } from "@redsync/core/otel";
 * const tracer: OtelTracer = {
 *   startSpan(name, options) {
 *     const attributes = { ...options?.attributes };
 *     return {
 *       setAttribute: (key, value) => void (attributes[key] = value),
 *       setStatus: () => {},
 *       end: (endTime = Date.now()) =>
 *         console.log(name, endTime - (options?.startTime ?? endTime), attributes),
 *     };
 *   },
 * };
 * ```
 */
export interface OtelTracer {
  /**
   * Starts a span, a child of the active context's span (the caller of
   * `acquire()`, where the runtime propagates the context).
   */
  startSpan(
    name: string,
    options?: { startTime?: number; attributes?: OtelAttributes },
  ): OtelSpan;
}

/**
 * An OpenTelemetry `Histogram`: `record` is all that is used.
 *
 * @example
 * ```ts
 * import type { OtelHistogram } from "@redsync/core/otel";
 * const waits: OtelHistogram = { record: (seconds) => console.log(seconds) };
 * ```
 */
export interface OtelHistogram {
  /** Records one value. */
  record(value: number, attributes?: OtelAttributes): void;
}

/**
 * An OpenTelemetry `Counter`: `add` is all that is used.
 *
 * @example
 * ```ts
 * import type { OtelCounter } from "@redsync/core/otel";
 * let lost = 0;
 * const counter: OtelCounter = { add: (value) => void (lost += value) };
 * ```
 */
export interface OtelCounter {
  /** Adds `value`. */
  add(value: number, attributes?: OtelAttributes): void;
}

/**
 * Options of an instrument, as OpenTelemetry's `MetricOptions`.
 *
 * @example
 * ```ts
 * import type { OtelMetricOptions } from "@redsync/core/otel";
 * const options: OtelMetricOptions = {
 *   unit: "s",
 *   advice: { explicitBucketBoundaries: [0.01, 0.1, 1] },
 * };
 * ```
 */
export interface OtelMetricOptions {
  /** What it measures. */
  description?: string;
  /** UCUM unit: `s`, `{lease}`... */
  unit?: string;
  /** Bucket boundaries advised for a histogram (views may override them). */
  advice?: { explicitBucketBoundaries?: number[] };
}

/**
 * The members of an OpenTelemetry `Meter` used here: an `@opentelemetry/api`
 * `Meter` (`metrics.getMeter(name)`) is one.
 *
 * @example Without OpenTelemetry: measurements printed
 * ```ts
 * import type { OtelMeter } from "@redsync/core/otel";
 * const meter: OtelMeter = {
 *   createHistogram: (name) => ({ record: (v, a) => console.log(name, v, a) }),
 *   createCounter: (name) => ({ add: (v, a) => console.log(name, v, a) }),
 * };
 * ```
 */
export interface OtelMeter {
  /** Creates a histogram. */
  createHistogram(name: string, options?: OtelMetricOptions): OtelHistogram;
  /** Creates a monotonic counter. */
  createCounter(name: string, options?: OtelMetricOptions): OtelCounter;
}
