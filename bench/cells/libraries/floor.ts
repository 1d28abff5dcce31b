/**
 * The floor of the libraries cell, taken at its start, after the hand-off
 * and at its end: `redis-benchmark -c 1 -t ping`, our sequential PING, and,
 * after `settleMs` of idling, a PING, an `RPUSH` waking another client's
 * `BLPOP` (the idle floor of the hand-off targets) and a `PUBLISH` reaching
 * a connection `SUBSCRIBE`d to its channel (the mechanism of our wake-ups,
 * without the lock and the hub).
 *
 * @module
 */
import { errorText, num } from "../../shared/format.ts";
import {
  idlePings,
  idlePublishes,
  idleWakes,
  pings,
} from "../../shared/probes.ts";
import {
  connectionArgs,
  parseBenchmarkCsv,
  redisBenchmark,
} from "../../shared/redis_benchmark.ts";
import { medianOf, summarize } from "../../shared/stats.ts";
import { RawSubscriber } from "../../shared/subscriber.ts";
import type { FloorRun, LockBenchResult, Rig } from "./types.ts";

/** One floor measurement, logged as `label`. */
export async function measureFloor(rig: Rig, label: string): Promise<FloorRun> {
  const { options, log } = rig;
  let benchmarkP50Us = NaN;
  let benchmarkMeanUs = NaN;
  try {
    const rows = parseBenchmarkCsv(
      await redisBenchmark([
        ...connectionArgs(rig.url),
        "-c",
        "1",
        "-n",
        String(options.floorBenchmarkPings),
        "-t",
        "ping",
        "--csv",
      ]),
    );
    const row = rows.find((r) => r.test === "PING_MBULK") ?? rows[0];
    benchmarkP50Us = (row.values.get("p50_latency_ms") ?? NaN) * 1_000;
    benchmarkMeanUs = 1e6 / (row.values.get("rps") ?? NaN);
  } catch (error) {
    log(`floor: redis-benchmark skipped: ${errorText(error)}`);
  }
  const redis = rig.connections.observer;
  for (let i = 0; i < options.floorWarmup; i++) await redis.send("PING");
  const ours = summarize(await pings(redis, options.floorPings));
  const idlePing = await idlePings(
    redis,
    options.idleSamples,
    options.settleMs,
  );
  const [waiter] = await rig.connections.ours(1);
  const wake = await idleWakes(
    waiter,
    redis,
    `${rig.runId}:floor:wake`,
    options.idleSamples,
    options.settleMs,
  );
  let publish: number[] = [];
  try {
    const subscriber = await RawSubscriber.open(
      rig.url,
      `${rig.runId}:floor:channel`,
    );
    try {
      publish = await idlePublishes(
        redis,
        subscriber,
        options.idleSamples,
        options.settleMs,
      );
    } finally {
      subscriber.close();
    }
  } catch (error) {
    log(`floor: PUBLISH -> SUBSCRIBE skipped: ${errorText(error)}`);
  }
  const result: FloorRun = {
    benchmarkP50Us,
    benchmarkMeanUs,
    oursP50Us: ours.p50 * 1_000,
    oursMeanUs: ours.mean * 1_000,
    idlePingP50Us: summarize(idlePing).p50 * 1_000,
    idleWakeP50Us: summarize(wake).p50 * 1_000,
    idlePublishP50Us: summarize(publish).p50 * 1_000,
  };
  log(
    `floor (${label}): redis-benchmark PING p50 ${
      result.benchmarkP50Us.toFixed(0)
    } us, mean ${result.benchmarkMeanUs.toFixed(1)} us; our PING p50 ${
      result.oursP50Us.toFixed(1)
    } us, mean ${
      result.oursMeanUs.toFixed(1)
    } us; after ${options.settleMs} ms idle: PING p50 ${
      result.idlePingP50Us.toFixed(0)
    } us, RPUSH -> BLPOP p50 ${
      result.idleWakeP50Us.toFixed(0)
    } us, PUBLISH -> SUBSCRIBE p50 ${result.idlePublishP50Us.toFixed(0)} us`,
  );
  return result;
}

/** Our PING p50 (us): median over the floor runs of the cell. */
export function pingP50Us(result: LockBenchResult): number {
  return medianOf(result.floors.map((f) => f.oursP50Us));
}

/** RPUSH -> BLPOP after an idle settle, p50 (us), median over the runs. */
export function idleWakeP50Us(result: LockBenchResult): number {
  return medianOf(result.floors.map((f) => f.idleWakeP50Us));
}

/** PUBLISH -> SUBSCRIBE after an idle settle, p50 (us), median over the runs. */
export function idlePublishP50Us(result: LockBenchResult): number {
  return medianOf(result.floors.map((f) => f.idlePublishP50Us));
}

/** The "Floor" subsection. */
export function floorMarkdown(result: LockBenchResult): string {
  const o = result.options;
  const ping = pingP50Us(result);
  return [
    "### Floor",
    "",
    `| when | redis-benchmark \`-c 1\` PING p50 (us) | redis-benchmark mean (us) | our PING p50 (us) | our PING mean (us) | our PING after ${o.settleMs} ms idle, p50 (us) | RPUSH -> BLPOP after ${o.settleMs} ms idle, p50 (us) | PUBLISH -> SUBSCRIBE after ${o.settleMs} ms idle, p50 (us) |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.floors.map((f, i) =>
      `| run ${i + 1} | ${num(f.benchmarkP50Us, 0)} | ${
        num(f.benchmarkMeanUs)
      } | ${num(f.oursP50Us)} | ${num(f.oursMeanUs)} | ${
        num(f.idlePingP50Us, 0)
      } | ${num(f.idleWakeP50Us, 0)} | ${num(f.idlePublishP50Us, 0)} |`
    ),
    `| **median** | ${
      num(medianOf(result.floors.map((f) => f.benchmarkP50Us)), 0)
    } | ${num(medianOf(result.floors.map((f) => f.benchmarkMeanUs)))} | **${
      num(ping)
    }** | ${num(medianOf(result.floors.map((f) => f.oursMeanUs)))} | ${
      num(medianOf(result.floors.map((f) => f.idlePingP50Us)), 0)
    } | **${num(idleWakeP50Us(result), 0)}** | ${
      num(idlePublishP50Us(result), 0)
    } |`,
    "",
    `The ratios below divide by our PING p50 (**${
      num(ping)
    } us**, median of the ${result.floors.length} runs taken between the measurements): the same client and event loop as the locks. redis-benchmark reports whole microseconds. The three "idle" columns repeat a PING, an RPUSH from one of our clients to a BLPOP blocked on another, and a PUBLISH from one of our clients to a connection SUBSCRIBEd to its channel (a bare subscriber that reads RESP itself: the mechanism of our wake-ups, which a granting script PUBLISHes to the waiter's hub, without the lock and the hub), ${
      o.idleSamples.toLocaleString("en-US")
    } times each after sleeping ${o.settleMs} ms, as the hand-off rounds do before every release: on this machine a round trip that follows a few ms of idling costs several times a back-to-back one (both processes must be woken), which sets the floor of every hand-off below. The RPUSH -> BLPOP column is the idle floor the hand-off targets are ratios to.`,
  ].join("\n");
}
