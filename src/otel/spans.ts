/**
 * OpenTelemetry spans from a lock primitive's events: one per acquire that
 * got a lease or gave up, one per hold.
 *
 * @module
 */
import type { LockEvent, LockEventTarget } from "../observe.ts";
import { errorType } from "./metrics.ts";
import type { OtelAttributes, OtelSpan, OtelTracer } from "./types.ts";

/**
 * Spans of one primitive, until disposed.
 *
 * @example
 * ```ts
 * import { connect, Mutex } from "@redsync/core";
 * import { lockTelemetry, type OtelTracer } from "@redsync/core/otel";
 * export async function traced(tracer: OtelTracer) {
 *   await using redis = await connect();
 *   const mutex = new Mutex(redis, "report");
 *   const spans = lockTelemetry({ tracer }).instrument(mutex);
 *   try {
 *     await (await mutex.acquire(AbortSignal.timeout(5_000))).release();
 *   } finally {
 *     spans.dispose();
 *   }
 * }
 * ```
 */
export interface InstrumentedLock extends Disposable {
  /**
   * Stops recording spans for the primitive (removes its listeners); the
   * hold spans still open end now, with `redsync.lock.outcome` `"unobserved"`.
   */
  dispose(): void;
}

/** The span of an acquire, from its start to its lease or its end without. */
const SPAN_ACQUIRE = "redsync.lock.acquire";
/** The span of a lease, from its grant to its release or loss. */
const SPAN_HOLD = "redsync.lock.hold";

/** `SpanStatusCode.ERROR` of `@opentelemetry/api`. */
const STATUS_ERROR = 2;

/**
 * The kind of a primitive, as `listPrimitives()` names it, by its shape:
 * `instanceof` would fail across copies of the package (its CommonJS entry
 * points are bundled whole, each with its own classes).
 */
function kindOf(primitive: LockEventTarget): string | undefined {
  const p = primitive as unknown as Record<string, unknown>;
  if (typeof p.quorum === "number") return "redlock";
  if (typeof p.read === "function" && typeof p.write === "function") {
    return "read-write-lock";
  }
  if (typeof p.permits === "number") return "semaphore";
  if (typeof p.acquire === "function") return "mutex";
  return undefined;
}

/** `attributes` without its undefined values (the SDK warns of them). */
function defined(attributes: OtelAttributes): OtelAttributes {
  const out: OtelAttributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function message(reason: unknown): string | undefined {
  return reason instanceof Error ? reason.message : undefined;
}

/** Now, in ms since the epoch (with the monotonic clock's precision). */
function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Spans from `primitive`'s events, until disposed. */
export function instrument(
  primitive: LockEventTarget,
  tracer: OtelTracer | undefined,
): InstrumentedLock {
  const kind = kindOf(primitive);
  /** Open hold spans, by lease id. */
  const holds = new Map<string, OtelSpan>();
  const base = (event: LockEvent): OtelAttributes => {
    const permits = event.permits ?? 1;
    return defined({
      "redsync.lock.name": event.lockName,
      "redsync.lock.kind": kind,
      "redsync.lock.mode": kind === "read-write-lock"
        ? (permits > 1 ? "write" : "read")
        : undefined,
      "redsync.lease.id": event.id,
      "redsync.lease.permits": permits,
    });
  };
  const acquired = (event: LockEvent) => {
    if (!tracer) return;
    const end = now();
    const attributes = defined({
      ...base(event),
      "redsync.lease.token": event.token,
    });
    const span = tracer.startSpan(SPAN_ACQUIRE, {
      startTime: end - (event.waitMs ?? 0),
      attributes: { ...attributes, "redsync.lock.outcome": "acquired" },
    });
    span.end(end);
    if (event.id !== undefined) {
      holds.get(event.id)?.end(end);
      holds.set(
        event.id,
        tracer.startSpan(SPAN_HOLD, { startTime: end, attributes }),
      );
    }
  };
  const timeout = (event: LockEvent) => {
    if (!tracer) return;
    const end = now();
    const span = tracer.startSpan(SPAN_ACQUIRE, {
      startTime: end - (event.waitMs ?? 0),
      attributes: {
        ...base(event),
        "redsync.lock.outcome": "timeout",
        "error.type": errorType(event.reason),
      },
    });
    span.setStatus({
      code: STATUS_ERROR,
      message: message(event.reason) ?? "the wait was aborted",
    });
    span.end(end);
  };
  const ended = (event: LockEvent) => {
    if (event.id === undefined) return;
    const span = holds.get(event.id);
    if (!span) return;
    holds.delete(event.id);
    span.setAttribute("redsync.lock.outcome", event.type);
    if (event.type === "lost") {
      span.setAttribute("error.type", errorType(event.reason));
      span.setStatus({
        code: STATUS_ERROR,
        message: message(event.reason) ?? "the lease was lost",
      });
    }
    span.end(now());
  };
  primitive.addEventListener("acquired", acquired);
  primitive.addEventListener("timeout", timeout);
  primitive.addEventListener("released", ended);
  primitive.addEventListener("lost", ended);
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    primitive.removeEventListener("acquired", acquired);
    primitive.removeEventListener("timeout", timeout);
    primitive.removeEventListener("released", ended);
    primitive.removeEventListener("lost", ended);
    const end = now();
    for (const span of holds.values()) {
      span.setAttribute("redsync.lock.outcome", "unobserved");
      span.end(end);
    }
    holds.clear();
  };
  return { dispose, [Symbol.dispose]: dispose };
}
