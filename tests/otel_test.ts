/**
 * `@redsync/core/otel` with the real OpenTelemetry SDK, on each runtime.
 *
 * The SDK is a dependency of this test only, never of the package: the test
 * installs `@opentelemetry/api`, `@opentelemetry/sdk-trace-base` and
 * `@opentelemetry/sdk-metrics` (pinned) with npm into a temporary directory
 * (npm's cache makes later runs quick), writes {@linkcode SCRIPT} there (the
 * SDK from that `node_modules`, the library from this repository by absolute
 * path) and runs it as a child process of the same runtime: Deno runs it
 * with the directory's `package.json` (its `node_modules`), and first
 * type-checks it against the SDK's own declarations (`@types/node` is
 * installed for that), so a `Tracer` and a `Meter` of `@opentelemetry/api`
 * fit the structural types without a cast; Bun runs it as it is; Node runs
 * an esbuild bundle of it (`npx -y esbuild@0.24.0`, the SDK left to Node's
 * resolution). The script records through an `InMemorySpanExporter` (with
 * a `SimpleSpanProcessor`) and a `MetricReader` it collects once, drives a
 * Mutex, a Semaphore, a ReadWriteLock and a Redlock against this file's
 * Redis (and two more servers, for the Redlock), and prints one JSON line:
 * the spans and metric data points, which the tests check. Every step has a
 * time limit; the directory is removed at the end.
 *
 * Not registered without `npm` (and `npx` on Node) on PATH.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  findExecutable,
  type RedisServer,
  sharedRedisUrl,
  startRedis,
} from "../harness/server.ts";
import { runStep, type StepOutput } from "../harness/exec.ts";
import { runtime, test } from "./_test.ts";

/** The SDK, pinned (2.x runs on Node 20; its 3.x needs Node 22.15). */
const PACKAGES = [
  "@opentelemetry/api@1.9.0",
  "@opentelemetry/sdk-trace-base@2.0.1",
  "@opentelemetry/sdk-metrics@2.0.1",
];
/** Deno's type check of the script needs Node's types in `node_modules`. */
const DENO_TYPES = "@types/node@20";
const ESBUILD = "esbuild@0.24.0";
/** Longest one step (an install, a bundle, the script) may take. */
const STEP_LIMIT_MS = 90_000;

/**
 * The repository: beside this file under Deno and Bun; under Node this file
 * is a bundle elsewhere, run by `tests/run.ts` from the repository.
 */
function findRoot(): string {
  const beside = fileURLToPath(new URL("../", import.meta.url));
  return existsSync(join(beside, "src/otel.ts")) ? beside : process.cwd();
}

const ROOT = findRoot();

/**
 * The script the child process runs, `__MOD__` and `__OTEL__` replaced by
 * the absolute paths of `mod.ts` and `src/otel.ts`. Environment:
 * `OTEL_TEST_URLS` (this file's Redis, then the Redlock's three servers),
 * `OTEL_TEST_PREFIX`.
 */
const SCRIPT = `
import process from "node:process";
import { metrics, trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import {
  AggregationTemporality,
  MeterProvider,
  MetricReader,
} from "@opentelemetry/sdk-metrics";
import { connect, Mutex, ReadWriteLock, Redlock, Semaphore } from "__MOD__";
import { lockTelemetry } from "__OTEL__";

/** Collected on demand (no timer): cumulative points. */
class Reader extends MetricReader {
  constructor() {
    super({
      aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE,
    });
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const [url, ...redlockUrls] = process.env.OTEL_TEST_URLS!.split(",");
const prefix = process.env.OTEL_TEST_PREFIX!;

const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const reader = new Reader();
const meterProvider = new MeterProvider({ readers: [reader] });
// Registered globally, as an application does; no context manager, so
// every span is a root span.
trace.setGlobalTracerProvider(tracerProvider);
metrics.setGlobalMeterProvider(meterProvider);

// The API's own Tracer and Meter: no cast (Deno type-checks this script).
const telemetry = lockTelemetry({
  tracer: trace.getTracer("otel-test"),
  meter: metrics.getMeter("otel-test"),
});
const options = { prefix, metrics: telemetry.metrics };
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

const redis = await connect(url);
const redlockClients = await Promise.all(redlockUrls.map((u) => connect(u)));
try {
  // A mutex: an acquire at once, a wait that times out, a tryAcquire that
  // finds it taken, a wait that gets the lease ~200 ms later.
  const mutex = new Mutex(redis, "m", options);
  const mutexSpans = telemetry.instrument(mutex);
  const first = await mutex.acquire();
  const timedOut = await mutex.acquire(AbortSignal.timeout(150)).catch((e) => e);
  const missed = await mutex.tryAcquire();
  const waiter = mutex.acquire(AbortSignal.timeout(10_000));
  await delay(200);
  await first.release();
  const second = await waiter;
  await second.release();

  // A lease lost: its holders entry deleted, the renewal finds it gone.
  const doomedMutex = new Mutex(redis, "lost", { ...options, leaseMs: 1_500 });
  using _doomedSpans = telemetry.instrument(doomedMutex);
  const doomed = await doomedMutex.acquire();
  await redis.send("DEL", prefix + ":{lost}:holders");
  await new Promise((r) => doomed.signal.addEventListener("abort", r));

  // A semaphore: two permits at once.
  const pool = await Semaphore.create(redis, "pool", { ...options, permits: 3 });
  using _poolSpans = telemetry.instrument(pool);
  const two = await pool.acquire({ permits: 2 });
  await two.release();

  // A read-write lock: a read, then a write.
  const rw = new ReadWriteLock(redis, "rw", options);
  using _rwSpans = telemetry.instrument(rw);
  await (await rw.read()).release();
  await (await rw.write()).release();

  // A Redlock over three servers.
  const redlock = new Redlock(redlockClients, "red", options);
  using _redlockSpans = telemetry.instrument(redlock);
  const red = await redlock.acquire(AbortSignal.timeout(5_000));
  await red.release();

  // Disposed while held: the open hold span ends as unobserved, and the
  // mutex records no span after it (its metrics go on).
  const held = await mutex.acquire();
  mutexSpans.dispose();
  await held.release();
  await (await mutex.acquire()).release();

  // A renewal failure as a lease reports it (a real one needs a broken
  // connection): through the hook.
  telemetry.metrics.renewalFailure!("m", new TypeError("renewal"));

  const { resourceMetrics, errors } = await reader.collect();
  await tracerProvider.forceFlush();
  const spans = exporter.getFinishedSpans().map((span) => {
    // 2.x: parentSpanContext; 1.x: parentSpanId.
    const s = span as unknown as Record<string, unknown>;
    const parent = s.parentSpanContext ?? s.parentSpanId;
    return {
      name: span.name,
      attributes: span.attributes,
      status: span.status,
      parent: parent !== undefined && parent !== "",
      ms: (span.endTime[0] - span.startTime[0]) * 1e3 +
        (span.endTime[1] - span.startTime[1]) / 1e6,
      scope: span.instrumentationScope.name,
    };
  });
  const points: Record<string, unknown[]> = {};
  const units: Record<string, string> = {};
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      units[metric.descriptor.name] = metric.descriptor.unit;
      points[metric.descriptor.name] = metric.dataPoints.map((point) => {
        const value = point.value as number | {
          count: number;
          sum?: number;
          buckets: { boundaries: number[] };
        };
        return {
          attributes: point.attributes,
          value: typeof value === "number" ? value : undefined,
          count: typeof value === "number" ? undefined : value.count,
          sum: typeof value === "number" ? undefined : value.sum,
          boundaries: typeof value === "number"
            ? undefined
            : value.buckets.boundaries,
        };
      });
    }
  }
  console.log(JSON.stringify({
    errors: errors.map(String),
    timedOut: timedOut instanceof Error ? timedOut.name : String(timedOut),
    missed: missed === undefined,
    first: { id: first.id, token: first.token },
    second: { id: second.id, token: second.token },
    two: { id: two.id, token: two.token },
    red: { id: red.id, token: red.token },
    held: held.id,
    spans,
    points,
    units,
  }));
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
} finally {
  await redis.close();
  await Promise.all(redlockClients.map((client) => client.close()));
}
`;

/** Runs `file` with `args` in `cwd`, within a step's time limit. */
function run(
  file: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<StepOutput> {
  return runStep(file, args, cwd, { env, limitMs: STEP_LIMIT_MS });
}

type Attributes = Record<string, string | number | boolean>;

interface SpanData {
  name: string;
  attributes: Attributes;
  status: { code: number; message?: string };
  parent: boolean;
  ms: number;
  scope: string;
}

interface Point {
  attributes: Attributes;
  value?: number;
  count?: number;
  sum?: number;
  boundaries?: number[];
}

interface Lease {
  id: string;
  token: number;
}

interface Result {
  errors: string[];
  timedOut: string;
  missed: boolean;
  first: Lease;
  second: Lease;
  two: Lease;
  red: Lease;
  held: string;
  spans: SpanData[];
  points: Record<string, Point[]>;
  units: Record<string, string>;
}

const npm = findExecutable("npm");
const npx = findExecutable("npx");

/** Installs the SDK, runs the script (see the module doc), parses its line. */
async function runScript(): Promise<Result> {
  const dir = await mkdtemp(join(tmpdir(), "redsync-otel-"));
  const servers: RedisServer[] = [];
  try {
    await writeFile(
      join(dir, "package.json"),
      JSON.stringify({ name: "otel-test", private: true, type: "module" }),
    );
    await run(npm!, [
      "install",
      "--prefer-offline",
      "--no-package-lock",
      ...PACKAGES,
      ...(runtime === "deno" ? [DENO_TYPES] : []),
    ], dir);
    await writeFile(
      join(dir, "script.ts"),
      SCRIPT.replace("__MOD__", join(ROOT, "mod.ts")).replace(
        "__OTEL__",
        join(ROOT, "src/otel.ts"),
      ),
    );
    let command: string[];
    if (runtime === "deno") {
      await run(process.execPath, ["check", "--quiet", "script.ts"], dir);
      command = [process.execPath, "run", "-A", "script.ts"];
    } else if (runtime === "bun") {
      command = [process.execPath, "script.ts"];
    } else {
      await run(npx!, [
        "-y",
        ESBUILD,
        "script.ts",
        "--bundle",
        "--packages=external",
        "--platform=node",
        "--format=esm",
        "--target=node20",
        "--outfile=script.mjs",
        "--log-level=warning",
      ], dir);
      command = [process.execPath, "script.mjs"];
    }
    for (let i = 0; i < 2; i++) servers.push(await startRedis());
    const url = sharedRedisUrl();
    const { stdout } = await run(command[0], command.slice(1), dir, {
      OTEL_TEST_URLS: [url, url, ...servers.map((s) => s.url)].join(","),
      OTEL_TEST_PREFIX: `otel-${crypto.randomUUID()}`,
    });
    const line = stdout.trim().split("\n").findLast((l) => l.startsWith("{"));
    assert.ok(line, `no JSON line in its output: ${stdout.slice(-2_000)}`);
    return JSON.parse(line);
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

let result: Promise<Result> | undefined;
/** The script's result, run once for the file (the first test pays). */
function outcome(): Promise<Result> {
  result ??= runScript();
  return result;
}

const spansOf = (r: Result, name: string, lock: string) =>
  r.spans.filter((s) =>
    s.name === name && s.attributes["redsync.lock.name"] === lock
  );

if (npm && (runtime !== "node" || npx)) {
  test(
    "otel: the real SDK records one span per acquire: lock, kind, lease id, permits, token, outcome, the wait as its duration",
    async () => {
      const r = await outcome();
      assert.deepEqual(r.errors, []);
      assert.equal(r.timedOut, "TimeoutError");
      assert.equal(r.missed, true);
      for (const span of r.spans) {
        assert.equal(span.parent, false, `${span.name} has a parent`);
        assert.equal(span.scope, "otel-test");
        assert.ok(span.ms >= 0, `${span.name}: ${span.ms} ms`);
      }
      const acquires = spansOf(r, "redsync.lock.acquire", "m");
      // first, the timed-out wait, second; the tryAcquire that found it
      // taken has none; then `held` (the span ends before the dispose).
      assert.deepEqual(
        acquires.map((s) => s.attributes["redsync.lock.outcome"]),
        ["acquired", "timeout", "acquired", "acquired"],
      );
      const [first, timeout, second, held] = acquires;
      assert.deepEqual(first.attributes, {
        "redsync.lock.name": "m",
        "redsync.lock.kind": "mutex",
        "redsync.lease.id": r.first.id,
        "redsync.lease.permits": 1,
        "redsync.lease.token": r.first.token,
        "redsync.lock.outcome": "acquired",
      });
      assert.equal(first.status.code, 0);
      assert.equal(timeout.status.code, 2, "a timeout's status is ERROR");
      assert.equal(timeout.attributes["error.type"], "TimeoutError");
      assert.equal(timeout.attributes["redsync.lease.token"], undefined);
      assert.equal(typeof timeout.attributes["redsync.lease.id"], "string");
      // Generous bounds: the timeout waited 150 ms, the waiter ~200 ms.
      assert.ok(timeout.ms >= 100 && timeout.ms < 5_000, `${timeout.ms} ms`);
      assert.equal(second.attributes["redsync.lease.id"], r.second.id);
      assert.equal(second.attributes["redsync.lease.token"], r.second.token);
      assert.ok(second.ms >= 100 && second.ms < 5_000, `${second.ms} ms`);
      assert.equal(held.attributes["redsync.lease.id"], r.held);

      const [pool] = spansOf(r, "redsync.lock.acquire", "pool");
      assert.equal(pool.attributes["redsync.lock.kind"], "semaphore");
      assert.equal(pool.attributes["redsync.lease.permits"], 2);
      assert.equal(pool.attributes["redsync.lease.token"], r.two.token);
      const rw = spansOf(r, "redsync.lock.acquire", "rw");
      assert.deepEqual(
        rw.map((s) => [
          s.attributes["redsync.lock.kind"],
          s.attributes["redsync.lock.mode"],
          s.attributes["redsync.lease.permits"],
        ]),
        [["read-write-lock", "read", 1], ["read-write-lock", "write", 100_000]],
      );
      const [red] = spansOf(r, "redsync.lock.acquire", "red");
      assert.equal(red.attributes["redsync.lock.kind"], "redlock");
      assert.equal(red.attributes["redsync.lease.id"], r.red.id);
      assert.equal(red.attributes["redsync.lease.token"], r.red.token);
    },
    { timeoutMs: 4 * STEP_LIMIT_MS },
  );

  test(
    "otel: one span per hold, from grant to release (or loss: ERROR); disposing ends the open ones and stops the spans",
    async () => {
      const r = await outcome();
      const holds = spansOf(r, "redsync.lock.hold", "m");
      assert.deepEqual(
        holds.map((s) => [
          s.attributes["redsync.lease.id"],
          s.attributes["redsync.lock.outcome"],
        ]),
        [
          [r.first.id, "released"],
          [r.second.id, "released"],
          [r.held, "unobserved"],
        ],
      );
      // first was held ~350 ms (the timeout, then 200 ms).
      assert.ok(holds[0].ms >= 200 && holds[0].ms < 10_000, `${holds[0].ms}`);
      assert.equal(holds[0].attributes["redsync.lease.token"], r.first.token);
      assert.equal(holds[0].status.code, 0);
      // After the dispose: no span for the mutex's last acquire.
      assert.equal(spansOf(r, "redsync.lock.acquire", "m").length, 4);

      const [lost] = spansOf(r, "redsync.lock.hold", "lost");
      assert.equal(lost.attributes["redsync.lock.outcome"], "lost");
      assert.equal(lost.attributes["error.type"], "LockLostError");
      assert.equal(lost.status.code, 2);
      assert.match(lost.status.message ?? "", /lost/);
      for (const lock of ["pool", "rw", "red"]) {
        const spans = spansOf(r, "redsync.lock.hold", lock);
        assert.ok(spans.length > 0, `no hold span for ${lock}`);
        for (const span of spans) {
          assert.equal(span.attributes["redsync.lock.outcome"], "released");
        }
      }
    },
    { timeoutMs: 4 * STEP_LIMIT_MS },
  );

  test(
    "otel: wait and hold histograms (seconds, advised buckets), timeout, lost and renewal-failure counters",
    async () => {
      const r = await outcome();
      assert.deepEqual(r.units, {
        "redsync.lock.wait.duration": "s",
        "redsync.lock.hold.duration": "s",
        "redsync.lock.timeouts": "{acquire}",
        "redsync.lock.lost": "{lease}",
        "redsync.lock.renewal_failures": "{failure}",
      });
      const point = (metric: string, attributes: Attributes) => {
        const found = r.points[metric]?.find((p) =>
          JSON.stringify(p.attributes) === JSON.stringify(attributes)
        );
        assert.ok(found, `${metric} ${JSON.stringify(attributes)}`);
        return found;
      };
      const waits = "redsync.lock.wait.duration";
      const m = { "redsync.lock.name": "m" };
      // Mutex m: first, second, held, and the one after the dispose.
      const acquired = point(waits, {
        ...m,
        "redsync.lock.outcome": "acquired",
      });
      assert.equal(acquired.count, 4);
      assert.ok(acquired.sum! >= 0.1 && acquired.sum! < 10, `${acquired.sum}`);
      assert.equal(acquired.boundaries![0], 0.001);
      const aborted = point(waits, { ...m, "redsync.lock.outcome": "aborted" });
      assert.equal(aborted.count, 1);
      assert.ok(aborted.sum! >= 0.1 && aborted.sum! < 5, `${aborted.sum}`);
      assert.equal(
        point(waits, { ...m, "redsync.lock.outcome": "unavailable" }).count,
        1,
      );
      for (const lock of ["lost", "pool", "red"]) {
        assert.equal(
          point(waits, {
            "redsync.lock.name": lock,
            "redsync.lock.outcome": "acquired",
          }).count,
          1,
        );
      }
      const rwWaits = { "redsync.lock.name": "rw" };
      assert.equal(
        point(waits, { ...rwWaits, "redsync.lock.outcome": "acquired" }).count,
        2,
      );

      const holds = "redsync.lock.hold.duration";
      const mHolds = point(holds, m);
      assert.equal(mHolds.count, 4);
      assert.ok(mHolds.sum! >= 0.2 && mHolds.sum! < 20, `${mHolds.sum}`);
      assert.equal(point(holds, { "redsync.lock.name": "lost" }).count, 1);
      assert.equal(point(holds, rwWaits).count, 2);
      assert.equal(point(holds, { "redsync.lock.name": "red" }).count, 1);

      assert.equal(point("redsync.lock.timeouts", m).value, 1);
      assert.equal(
        point("redsync.lock.lost", { "redsync.lock.name": "lost" }).value,
        1,
      );
      assert.equal(r.points["redsync.lock.lost"].length, 1);
      assert.equal(
        point("redsync.lock.renewal_failures", {
          ...m,
          "error.type": "TypeError",
        }).value,
        1,
      );
    },
    { timeoutMs: 4 * STEP_LIMIT_MS },
  );
} else {
  console.warn(
    "otel test: not registered, `npm` (and `npx` for Node) are needed on PATH",
  );
}
