/**
 * OpenTelemetry metrics as a `LockMetrics` hook: histograms of waits and
 * holds (seconds), counters of timeouts, lost leases, renewal failures.
 *
 * @module
 */
import type { LockMetrics } from "../observe.ts";
import type { OtelAttributes, OtelMeter } from "./types.ts";

/** Histogram buckets, in seconds: waits (1 ms to 1 min). */
const WAIT_BUCKETS = [
  0.001,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];
/** Histogram buckets, in seconds: holds (10 ms to 1 h). */
const HOLD_BUCKETS = [
  0.01,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
  900,
  3600,
];

/** The `metrics` hook on `meter`'s instruments. */
export function lockMetrics(
  meter: OtelMeter,
  metricName: (lockName: string) => string | undefined,
): LockMetrics {
  const waits = meter.createHistogram("redsync.lock.wait.duration", {
    description: "Time an acquire waited, until it got a lease or gave up",
    unit: "s",
    advice: { explicitBucketBoundaries: WAIT_BUCKETS },
  });
  const holds = meter.createHistogram("redsync.lock.hold.duration", {
    description: "Time a lease was held, until released or lost",
    unit: "s",
    advice: { explicitBucketBoundaries: HOLD_BUCKETS },
  });
  const timeouts = meter.createCounter("redsync.lock.timeouts", {
    description: "Acquires that ended without a lease (aborted or failed)",
    unit: "{acquire}",
  });
  const lost = meter.createCounter("redsync.lock.lost", {
    description: "Leases lost before their release",
    unit: "{lease}",
  });
  const renewalFailures = meter.createCounter(
    "redsync.lock.renewal_failures",
    {
      description: "Renewal attempts that failed (the lease may survive)",
      unit: "{failure}",
    },
  );
  const attributes = (name: string): OtelAttributes => {
    const value = metricName(name);
    return value === undefined ? {} : { "redsync.lock.name": value };
  };
  return {
    wait(name, ms, outcome) {
      const attrs = attributes(name);
      waits.record(ms / 1000, { ...attrs, "redsync.lock.outcome": outcome });
      if (outcome === "aborted") timeouts.add(1, attrs);
    },
    hold(name, ms) {
      holds.record(ms / 1000, attributes(name));
    },
    lost(name) {
      lost.add(1, attributes(name));
    },
    renewalFailure(name, error) {
      renewalFailures.add(1, {
        ...attributes(name),
        "error.type": errorType(error),
      });
    },
  };
}

/** The `error.type` of a failure: its name (`TimeoutError`...). */
export function errorType(reason: unknown): string {
  if (reason instanceof Error) return reason.name;
  if (
    typeof reason === "object" && reason !== null && "name" in reason &&
    typeof reason.name === "string"
  ) return reason.name;
  return "_OTHER";
}
