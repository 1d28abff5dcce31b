/**
 * The report of the failover measure: the scenario (Sentinel or cluster),
 * a row per run, the totals per mode, and what the runs say.
 *
 * @module
 */
import type { FailoverRunResult } from "../../harness/failover.ts";
import { int, num } from "../shared/format.ts";
import { medianOf } from "../shared/stats.ts";
import {
  DURABILITY,
  type Mode,
  MODES,
  type Run,
  SCENARIO,
  TIMEOUT_MS,
} from "./types.ts";

/** How a report is made again. */
export function commandOf(cluster: boolean): string {
  return cluster
    ? "deno run -A bench/failover/main.ts --cluster"
    : "deno run -A bench/failover/main.ts";
}

function row(cells: (string | number)[]): string {
  return `| ${cells.join(" | ")} |`;
}

/** The totals of one mode. */
function totals(runs: Run[], mode: Mode) {
  const mine = runs.filter((r) => r.mode === mode);
  const done = mine.flatMap((r) => r.result ? [r.result] : []);
  const sum = (pick: (r: FailoverRunResult) => number) =>
    done.reduce((total, r) => total + pick(r), 0);
  const resumed = done.map((r) => r.resumedMs).filter(Number.isFinite);
  const phase = (pick: (r: FailoverRunResult) => number | undefined) =>
    done.map(pick).filter((v): v is number => Number.isFinite(v));
  const failovers = phase((r) => r.failoverMs);
  const rejoins = phase((r) => r.rejoinedMs);
  return {
    runs: mine.length,
    failed: mine.filter((r) => r.failure !== undefined).length,
    grants: sum((r) => r.grants),
    grantsLost: sum((r) => r.grantsLost),
    runsLosing: done.filter((r) => r.grantsLost > 0).length,
    overAdmissions: sum((r) => r.overAdmissions),
    runsOver: done.filter((r) => r.overAdmissions > 0).length,
    mostBelievers: done.length > 0
      ? Math.max(...done.map((r) => r.mostBelievers))
      : NaN,
    lost: sum((r) => r.lost),
    shortfalls: sum((r) => r.shortfalls),
    errors: sum((r) => r.errors.length),
    resumedMedian: medianOf(resumed),
    resumedMin: resumed.length > 0 ? Math.min(...resumed) : NaN,
    resumedMax: resumed.length > 0 ? Math.max(...resumed) : NaN,
    notResumed: done.length - resumed.length,
    failoverMedian: medianOf(failovers),
    failoverMin: failovers.length > 0 ? Math.min(...failovers) : NaN,
    failoverMax: failovers.length > 0 ? Math.max(...failovers) : NaN,
    rejoinedMedian: medianOf(rejoins),
    rejoinedMin: rejoins.length > 0 ? Math.min(...rejoins) : NaN,
    rejoinedMax: rejoins.length > 0 ? Math.max(...rejoins) : NaN,
  };
}

/** "The scenario" of a Sentinel run. */
function sentinelScenario(): string[] {
  const s = SCENARIO;
  return [
    `Each run (\`runFailover()\` in \`harness/failover.ts\`) starts a fresh Sentinel topology on 127.0.0.1 (\`harness/sentinel.ts\`): a primary, a replica and three sentinels (quorum 2, \`down-after-milliseconds\` 1000, \`failover-timeout\` 5000), no persistence. Everyone (the sentinels, the replica, the clients) knows the primary at the address of a TCP proxy, through which the replica replicates. ${s.workers} worker tasks, over two clients (\`redis+sentinel://\`, \`commandTimeoutMs\` 1000, reconnecting after 50-300 ms), contend for one \`Semaphore\` of ${s.permits} permits (\`leaseMs\` ${s.leaseMs}); each holds what it gets for ${
      s.holdMs[0] / 1_000
    }-${
      s.holdMs[1] / 1_000
    } s (at random), until its lease is lost, or until the run stops, then releases and asks again.`,
    "",
    `1. ${
      s.warmupMs / 1_000
    } s of contention, replication working.\n2. Replication is frozen silently: the proxy stops forwarding on the replica's link without closing it, so the replica sees no error, and nothing the primary writes from now on reaches it. This lasts ${
      s.frozenMs / 1_000
    } s, while the workers go on.\n3. The primary is SIGKILLed. The sentinels notice (about 1 s) and promote the replica, which never received the writes of the last ${
      s.frozenMs / 1_000
    } s; the clients follow the sentinels to it.\n4. 3 s after the kill the old primary is restarted, empty; the sentinels make it a replica of the new primary. The run then watches ${
      s.afterMs / 1_000
    } s more and stops the workers.`,
  ];
}

/** "The scenario" of a cluster run. */
function clusterScenario(): string[] {
  const s = SCENARIO;
  return [
    `Each run (\`runClusterFailover()\` in \`harness/failover.ts\`) starts a fresh Redis Cluster on 127.0.0.1 (\`startCluster({ proxyPrimaries: true })\`, \`harness/cluster.ts\`): 3 primaries and 3 replicas, \`cluster-node-timeout\` 1000, \`cluster-replica-validity-factor\` 0, no persistence. Each primary is started behind a TCP proxy of its own and announces the proxy's port as its address (\`--cluster-announce-port\`; \`--cluster-announce-bus-port\` is its real bus port, so the cluster bus is not proxied): the other nodes, its replica (whose replication link goes through the proxy) and the clients all reach it there. ${s.workers} worker tasks, over two clients (\`redis+cluster://\`, \`commandTimeoutMs\` 1000, reconnecting after 50-300 ms), contend for one \`Semaphore\` of ${s.permits} permits (\`leaseMs\` ${s.leaseMs}), whose keys all live in one slot, so on one shard; each holds what it gets for ${
      s.holdMs[0] / 1_000
    }-${
      s.holdMs[1] / 1_000
    } s (at random), until its lease is lost, or until the run stops, then releases and asks again.`,
    "",
    `1. ${
      s.warmupMs / 1_000
    } s of contention, replication working.\n2. That shard's replication is frozen silently: its primary's proxy stops forwarding on the replica's link without closing it, so the replica sees no error, and nothing the primary writes from now on reaches it; the cluster bus goes on, so every node still sees the primary alive. This lasts ${
      s.frozenMs / 1_000
    } s, while the workers go on.\n3. The primary is SIGKILLed. The other nodes mark it failed and its replica, which never received the writes of the last ${
      s.frozenMs / 1_000
    } s, wins the election and takes over its slots (about 2.4 s); the clients follow the slot map to it.\n4. As soon as every live node agrees on the new owner, the old primary is restarted, empty, with its node config file (so with its node ID): it rejoins as the promoted node's replica and syncs from it. The run then watches ${
      s.afterMs / 1_000
    } s more and stops the workers.`,
  ];
}

function label(mode: Mode): string {
  return mode === "with"
    ? `with \`durability: { replicas: ${DURABILITY.replicas} }\``
    : "without durability";
}

/**
 * The report (`bench/results/failover.md`, or `failover_cluster.md` with
 * `cluster`): the scenario, a row per run, the totals per mode, and what
 * they say.
 */
export function report(
  runs: Run[],
  perMode: number,
  seconds: number,
  runtime: string,
  cluster: boolean,
): string {
  const CLUSTER = cluster;
  const COMMAND = commandOf(cluster);
  const s = SCENARIO;
  const t = { without: totals(runs, "without"), with: totals(runs, "with") };
  const lines: string[] = [
    CLUSTER
      ? "# Cluster failover: grants lost with a shard's primary, without and with durability"
      : "# Failover: grants lost with the primary, without and with durability",
    "",
    `Generated by \`FAILOVER_RUNS=${perMode} ${COMMAND}\` in ${
      num(seconds, 0)
    } s: ${perMode} run(s) per mode, alternating (without, with, ...). ${runtime}.`,
    "",
    "## The scenario",
    "",
    ...(CLUSTER ? clusterScenario() : sentinelScenario()),
    "",
    `With durability, each grant (and each renewal) is followed by \`EXTEND\` and \`WAIT ${DURABILITY.replicas} ${TIMEOUT_MS}\` on one connection before \`acquire()\` resolves; too few acknowledgements in time (\`onShortfall\` "fail", the default) give the permit back and try again, and count as a shortfall.`,
    "",
    "## What the columns mean",
    "",
    "- **grants**: `acquire()` calls that resolved, counted by the workers.",
    `- **grants lost with the primary**: grants counted between the freeze and the kill. Their write never reached the replica that became the primary: these holders held a permit the new primary never knew of, which it can give to someone else.`,
    `- **over-admissions**: grants made while more holders believed they held a permit (granted, and neither released nor lost) than the ${s.permits} permits: the lock's guarantee broken, as seen by the holders.`,
    `- **most believers**: the most holders believing at once (the limit is ${s.permits}).`,
    "- **leases lost**: leases whose signal aborted (a renewal failed or found the lease gone: the holder was told to stop).",
    "- **shortfalls**: `shortfall` events: too few replicas acknowledged a grant or renewal in time (with durability only).",
    "- **resumed after the kill**: ms from the kill to the first grant after it.",
    ...(CLUSTER
      ? [
        "- **failover**: ms from the kill to every live node agreeing on the promoted replica as the owner of the slots (as the harness polls it: every 50 ms, asking each node with `redis-cli`).",
        "- **old primary back**: ms from the kill to the restarted old primary being a synced replica of the promoted one, every node agreeing (as the harness polls it: a grant with durability may come a little before).",
      ]
      : []),
    "- **errors**: errors of `acquire()` other than the workers' own stop (each ends its worker).",
    "",
    "## Runs",
    "",
    row([
      "run",
      "mode",
      "grants",
      "grants lost with the primary",
      "over-admissions",
      "most believers",
      "leases lost",
      "shortfalls",
      "resumed after the kill (ms)",
      ...(CLUSTER ? ["failover (ms)", "old primary back (ms)"] : []),
      "errors",
      "duration (s)",
    ]),
    row(["---:", "---", ...Array(CLUSTER ? 11 : 9).fill("---:")]),
  ];
  for (const run of runs) {
    const r = run.result;
    lines.push(row([
      run.index,
      label(run.mode),
      ...(r
        ? [
          int(r.grants),
          r.grantsLost,
          r.overAdmissions,
          r.mostBelievers,
          r.lost,
          r.shortfalls,
          int(r.resumedMs),
          ...(CLUSTER
            ? [int(r.failoverMs ?? NaN), int(r.rejoinedMs ?? NaN)]
            : []),
          r.errors.length,
        ]
        : ["failed", ...Array(CLUSTER ? 9 : 7).fill("")]),
      num(run.seconds, 1),
    ]));
  }
  lines.push(
    "",
    "## Totals per mode",
    "",
    row([
      "mode",
      "runs",
      "grants",
      "grants lost with the primary (runs with any)",
      "over-admissions (runs with any)",
      "most believers",
      "leases lost",
      "shortfalls",
      "resumed after the kill, median (range) (ms)",
      ...(CLUSTER
        ? [
          "failover, median (range) (ms)",
          "old primary back, median (range) (ms)",
        ]
        : []),
      "errors",
    ]),
    row(["---", ...Array(CLUSTER ? 11 : 9).fill("---:")]),
  );
  for (const mode of MODES) {
    const m = t[mode];
    lines.push(row([
      label(mode),
      m.failed > 0 ? `${m.runs} (${m.failed} failed)` : m.runs,
      int(m.grants),
      `${m.grantsLost} (${m.runsLosing})`,
      `${m.overAdmissions} (${m.runsOver})`,
      Number.isFinite(m.mostBelievers) ? m.mostBelievers : "n/a",
      m.lost,
      m.shortfalls,
      `${int(m.resumedMedian)} (${int(m.resumedMin)} – ${int(m.resumedMax)})${
        m.notResumed > 0 ? `, ${m.notResumed} never` : ""
      }`,
      ...(CLUSTER
        ? [
          `${int(m.failoverMedian)} (${int(m.failoverMin)} – ${
            int(m.failoverMax)
          })`,
          `${int(m.rejoinedMedian)} (${int(m.rejoinedMin)} – ${
            int(m.rejoinedMax)
          })`,
        ]
        : []),
      m.errors,
    ]));
  }
  const w = t.without;
  const d = t.with;
  lines.push(
    "",
    "## What this run says",
    "",
    `- Without durability: ${w.grantsLost} grant(s) lost with the primary over ${w.runs} run(s) (in ${w.runsLosing} of them), ${w.overAdmissions} over-admission(s) (in ${w.runsOver}), at most ${
      Number.isFinite(w.mostBelievers) ? w.mostBelievers : "n/a"
    } believers at once for ${s.permits} permits. ${withoutText(w, s.permits)}`,
    `- With \`durability: { replicas: ${DURABILITY.replicas} }\`: ${d.grantsLost} grant(s) lost with the primary (in ${d.runsLosing} run(s) of ${d.runs}), ${d.overAdmissions} over-admission(s), at most ${
      Number.isFinite(d.mostBelievers) ? d.mostBelievers : "n/a"
    } believers at once, ${d.shortfalls} shortfall(s), ${d.lost} lease(s) lost. ${
      withText(runs, d, cluster)
    }`,
    CLUSTER
      ? clusterWaitText(runs, t)
      : `- The price is the wait: with durability, acquisitions resumed a median of ${
        int(d.resumedMedian)
      } ms after the kill (${int(d.resumedMin)} – ${
        int(d.resumedMax)
      }), against ${
        int(w.resumedMedian)
      } ms without. A grant then needs a replica to acknowledge it, and the new primary had none until the old primary, restarted empty 3 s after the kill, had been made its replica by the sentinels and had synced; until then every grant fell short (the shortfalls). ${
        renewalsText(d, w)
      }`,
  );
  const failures = runs.filter((r) => r.failure !== undefined);
  if (failures.length > 0) {
    lines.push(
      "",
      "## Failures",
      "",
      ...failures.map((r) => `- Run ${r.index} (${r.mode}): ${r.failure}`),
    );
  }
  return lines.join("\n") + "\n";
}

type Totals = ReturnType<typeof totals>;

/** Renewals that fell short, in words. */
function renewalsText(d: Totals, w: Totals): string {
  return `Renewals count too: a renewal too few replicas acknowledge fails (\`onShortfall\` "fail")${
    d.lost > w.lost
      ? `, which is why more leases were lost with durability (${d.lost} against ${w.lost}): those holders were told to stop`
      : ""
  }.`;
}

/** The wait after the kill on a cluster shard, in words. */
function clusterWaitText(runs: Run[], t: Record<Mode, Totals>): string {
  const { with: d, without: w } = t;
  const range = (min: (m: Totals) => number, max: (m: Totals) => number) => {
    const lows = MODES.map((mode) => min(t[mode])).filter(Number.isFinite);
    const highs = MODES.map((mode) => max(t[mode])).filter(Number.isFinite);
    return `${int(Math.min(...lows))} – ${int(Math.max(...highs))}`;
  };
  const withRuns = runs.flatMap((r) =>
    r.mode === "with" && r.result ? [r.result] : []
  );
  const early =
    withRuns.filter((r) => r.resumedMs < (r.rejoinedMs ?? Infinity)).length;
  return `- The wait after the kill: with durability, acquisitions resumed a median of ${
    int(d.resumedMedian)
  } ms after it (${int(d.resumedMin)} – ${int(d.resumedMax)}), against ${
    int(w.resumedMedian)
  } ms (${int(w.resumedMin)} – ${
    int(w.resumedMax)
  }) without. Both wait for the cluster's failover (every live node agreed on the promoted replica ${
    range((m) => m.failoverMin, (m) => m.failoverMax)
  } ms after the kill, over all runs, as the harness polls it). A grant with durability also needs a replica of the promoted node to acknowledge it, and it had none until the old primary, restarted empty as soon as the failover was agreed, had rejoined as its replica and synced: the harness saw it back ${
    range((m) => m.rejoinedMin, (m) => m.rejoinedMax)
  } ms after the kill${
    early > 0
      ? `, and in ${early} of ${withRuns.length} run(s) with durability the first grant came before that (the rejoin and its sync of a few keys take tens of ms; the harness polls)`
      : ""
  }. That wait is this short only because the harness restarts the old primary at once: in production, acquisitions on that shard with \`replicas: 1\` stay blocked (each attempt a shortfall) until some replica is attached to the new primary again (the failed node back, a node added with \`CLUSTER REPLICATE\`, or a replica migrated from a shard with more replicas than \`cluster-migration-barrier\`). The other shards are not affected. Here the price is paid during the freeze: no grant on that shard could be acknowledged then. ${
    renewalsText(d, w)
  }`;
}

/** What the runs without durability show, in words. */
function withoutText(w: Totals, permits: number): string {
  if (w.grantsLost === 0) {
    return "No grant fell into the frozen window in these runs, so none could be lost.";
  }
  const lost =
    "Every grant counted while replication was frozen existed only on the primary that died: its holder held a permit the new primary did not know of, and could give again.";
  if (w.overAdmissions > 0) {
    return `${lost} It did: ${w.overAdmissions} grant(s) were made while more than ${permits} holders believed they held, the semaphore's limit broken.`;
  }
  return `${lost} None of them turned into an over-admission in these runs (at every grant at most ${permits} believed they held): that takes the new primary handing out such a permit while its unknown holder still holds it and every other permit is in use, and the releases made in the same window, lost too (permits given back that the new primary still counted as held until their leases ran out), work the other way. The hazard is the lost grants; the over-admissions are how often it struck.`;
}

/** What the runs with durability show, in words. */
function withText(runs: Run[], d: Totals, cluster: boolean): string {
  if (d.grantsLost === 0 && d.overAdmissions === 0) {
    return `While replication was frozen no grant could be acknowledged (each \`WAIT ${DURABILITY.replicas} ${TIMEOUT_MS}\` came back short: the shortfalls), so no \`acquire()\` resolved in that window, and the new primary had every grant that did resolve.`;
  }
  const where = runs.filter((r) =>
    r.mode === "with" &&
    ((r.result?.grantsLost ?? 0) > 0 || (r.result?.overAdmissions ?? 0) > 0)
  ).map((r) => r.index).join(", ");
  return `**Durability did not keep every grant in these runs**: run(s) ${where} counted ${d.grantsLost} grant(s) between the freeze and the kill${
    d.overAdmissions > 0 ? ` and ${d.overAdmissions} over-admission(s)` : ""
  }. This measure cannot tell whether such a grant had reached the replica: \`${
    cluster ? "runClusterFailover" : "runFailover"
  }()\` counts a grant by the moment \`acquire()\` resolved in this process, not by what the replica received (a grant acknowledged just before the freeze took effect and resolved just after it would be counted too). \`tests/${
    cluster ? "cluster_durability_test" : "failover_test"
  }.ts\` asserts 0 for this mode.`;
}
