/**
 * The report of the cluster cell: the cluster client
 * against the single-node client, each figure next to its client's own PING
 * floor of the same run, and the targets met or missed.
 *
 * @module
 */
import {
  floorsLine,
  ratio,
  row,
  section,
  verdict,
} from "../../shared/ab/report.ts";
import { int, num, usFine as us, yes } from "../../shared/format.ts";
import type { ClusterBenchResult, ClusterCell, Layout } from "./types.ts";

const TITLE =
  "## Redis Cluster: the cluster client against the single-node client";

/** Cluster client within this factor of the single-node client (p50). */
export const CLUSTER_TARGET = 1.3;

/**
 * The floor of a row, p50 per client: a lock cell's own (see
 * `ClusterCell.floor`), else the client's PING.
 */
function floorOf(
  r: ClusterBenchResult,
  cell: ClusterCell,
): Record<Layout, number> {
  const floor = cell.floor ?? r.ping;
  return {
    single: floor?.single.p50 ?? NaN,
    cluster: floor?.cluster.p50 ?? NaN,
  };
}

/** cluster / single p50, each first divided by its own floor. */
function normalized(r: ClusterBenchResult, cell: ClusterCell): number {
  const floor = floorOf(r, cell);
  return (cell.cluster.p50 / floor.cluster) / (cell.single.p50 / floor.single);
}

/**
 * The uncontended control as a row: the plain client to the cluster's
 * primary in the single node's columns, against the cluster client.
 */
function control(cell: ClusterCell): [string, ClusterCell][] {
  const { direct } = cell;
  if (!direct) return [];
  return [[
    "Uncontended, control: a plain client to the mutex's cluster primary (in the single columns)",
    {
      ...cell,
      single: direct,
      roundP50: { ...cell.roundP50, single: cell.roundP50.direct ?? [] },
      floor: cell.floor && cell.floor.direct
        ? { ...cell.floor, single: cell.floor.direct }
        : undefined,
    },
  ]];
}

/** The section below its title, measured. */
function parts(r: ClusterBenchResult) {
  const o = r.options;
  const intro =
    `The same lock measurements through a cluster client (\`redis+cluster://\`, a private cluster of ${r.primaries} primaries and ${r.replicas} replicas on 127.0.0.1 from \`harness/cluster.ts\`, Redis ${r.clusterVersion}, no persistence, started in ${
      num(r.startSeconds, 1)
    } s) and through a single-node client (${r.singleUrl}, Redis ${r.singleVersion}), in this process, on the same machine: the ${
      r.primaries + r.replicas
    } cluster nodes and the single server share its cores. Each client under test is its own \`connect()\` (the cluster client: a main connection per primary, and its wake hub's sharded pub/sub subscriber per primary it listens on; the single-node client: one main connection and the hub's subscriber connection). The two clients are measured interleaved, sample by sample (single then cluster, then cluster then single, ...), in ${o.rounds} rounds; the percentiles are over the samples of all rounds. The section took ${
      num(r.seconds, 0)
    } s.`;
  const lines: string[] = [
    `- **PING**: ${int(o.pingWarmup)} warm-up, then ${
      int(o.pings)
    } sequential \`await PING\` per round (keyless: the cluster client sends it to one primary). **GET**: the same with \`GET\` of one key, which the cluster client routes by its slot. **PING after ${o.settleMs} ms idle**: ${o.idleSamples} PINGs per round, each after sleeping ${o.settleMs} ms, as the hand-offs do before each release.`,
    `- **Uncontended**: one \`Mutex\` at its defaults on one client, ${
      int(o.uncontendedWarmup)
    } warm-up cycles, then ${
      int(o.uncontendedCycles)
    } timed \`acquire()\` + \`release()\` cycles per round. Its floor: a \`GET\` of a key in the mutex's slot (on its server), timed just before each cycle. Control, interleaved with the two: a plain single-node client connected straight to the cluster primary that holds the cluster's mutex, cycling that mutex (the same keys, on the same server process, as the cluster client; no slot routing).`,
    `- **Hand-off, one name**: two clients, a \`Mutex\` of the same name on each (defaults, blocking hand-off); one holds it, the other waits. Once the waiter is in the queue ZSET, and ${
      2 * o.settleMs
    } ms more, the holder calls \`release()\`; the latency runs from that call to the waiter's \`acquire()\` resolving (one process, one clock). The releaser then calls \`acquire()\` and waits in turn, so the lock goes back and forth between the clients. ${o.handoffWarmup} unmeasured hand-offs, then ${
      int(o.handoffRounds)
    } measured per round within ${
      o.cellMs / 1_000
    } s. Its floor: ${o.settleMs} ms after the waiter is queued, and ${o.settleMs} ms before each release, the holder's client times a \`GET\` of a key in the name's slot (a round trip to the same server, after the same idling as the release).`,
    `- **Hand-off, spread over ${o.spreadNames} names**: the same with ${o.spreadNames} names at once: each name is held on one client with a waiter queued on the other at all times, and the names are released one at a time, in turn. Each client's wake hub thus listens on all ${o.spreadNames} names (in the cluster, one sharded channel per name on its slot's primary: every primary). ${o.handoffWarmup} + ${o.spreadNames} unmeasured hand-offs (one turn of the names, so that both hubs listen on every name), then ${
      int(o.handoffRounds)
    } measured per round within ${o.cellMs / 1_000} s; floor as above.`,
    "",
    "A loopback round trip on this kind of machine (a small VM) is bimodal, per server process: about 20 us while the server runs on the client's vCPU, about 90 us while it runs on the other one (an idle vCPU must be woken), and a process keeps its state for seconds. Interleaving gives both clients the same moments, but not the same placement: the single server and each primary of the cluster are placed on their own. So each lock figure is also shown over its own floor, a round trip to the same server taken within the cell; \"floor-normalized\" divides the cluster's p50 / floor by the single node's. The targets are judged on the raw p50s.",
    "",
    "| measurement | single p50 / p99 (us) | cluster p50 / p99 (us) | cluster / single p50, p99 | floor p50 single, cluster (us) | p50 / floor single, cluster | cluster / single p50, floor-normalized | single p50 over rounds (us) | cluster p50 over rounds (us) | samples per client |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
  ];
  const rows: [string, ClusterCell | undefined][] = [
    ["PING (floor)", r.ping],
    ["GET of one key", r.get],
    [`PING after ${o.settleMs} ms idle`, r.idlePing],
    ["Uncontended acquire + release", r.uncontended],
    ...(r.uncontended ? control(r.uncontended) : []),
    ["Hand-off, one name", r.handoff],
    [`Hand-off, ${o.spreadNames} names`, r.spread],
  ];
  for (const [label, cell] of rows) {
    if (!cell) continue;
    const floor = floorOf(r, cell);
    const own = cell.floor !== undefined;
    lines.push(row(label, cell, "single", "cluster", [
      own ? `${us(floor.single)}, ${us(floor.cluster)}` : "PING",
      `${num(cell.single.p50 / floor.single, 2)}, ${
        num(cell.cluster.p50 / floor.cluster, 2)
      }`,
      num(normalized(r, cell), 2),
    ]));
  }
  return { intro, targets: targetLines(r), measurements: lines };
}

/** The target lines, as bullet points. */
function targetLines(r: ClusterBenchResult): string[] {
  const lines: string[] = [];
  const o = r.options;
  const target = (what: string, cell: ClusterCell | undefined) => {
    if (!cell) return;
    const floor = floorOf(r, cell);
    lines.push(
      `- ${what} through the cluster client within ${CLUSTER_TARGET}x of the single-node client (p50): ${
        verdict(cell, "single", "cluster", CLUSTER_TARGET)
      }. The cell's own floors, p50: cluster ${us(floor.cluster)} us, single ${
        us(floor.single)
      } us; each p50 over its own floor, cluster / single: ${
        num(normalized(r, cell), 2)
      }x.`,
    );
  };
  target("Uncontended `Mutex` acquire + release cycle", r.uncontended);
  const unc = r.uncontended;
  if (unc?.direct) {
    const own = unc.cluster.p50 / unc.direct.p50;
    lines.push(
      `  - Control: a single-node client connected straight to the cluster primary that holds the mutex (port ${r.directPort}: the same server process as the cluster client's), cycling the same mutex, interleaved with the two: p50 ${
        us(unc.direct.p50)
      } us (its floor ${
        us(unc.floor?.direct?.p50 ?? NaN)
      } us); the cluster client / this control: **${
        num(own, 2)
      }x**, the single node / this control: ${
        num(unc.single.p50 / unc.direct.p50, 2)
      }x.${
        own <= 1.1 && ratio(unc, "single", "cluster") > 1.1
          ? " Most of the gap is then the server the cluster client reaches (a round trip to it costs more here, see its floor), not the cluster client itself."
          : ""
      }`,
    );
  }
  target("Hand-off between two clients, one name", r.handoff);
  target(
    `Hand-off between two clients, waiters spread over ${o.spreadNames} names`,
    r.spread,
  );
  const channels = r.shardChannels;
  lines.push(
    `- The spread cell's wake-ups come through every primary (each client's hub subscribed on all ${r.primaries}): ${
      yes(channels.length === r.primaries && channels.every((c) => c > 0))
    }: ${
      channels.length > 0 ? channels.join(" / ") : "not counted"
    } wake channels of the run on the ${channels.length} primaries (\`PUBSUB SHARDCHANNELS\`, one per name and client, ${
      2 * o.spreadNames
    } in all).`,
  );
  if (r.ping && r.idlePing) {
    lines.push(floorsLine(
      "- Floors, cluster / single: PING p50 ",
      r.ping,
      "single",
      "cluster",
      [
        [`PING after ${o.settleMs} ms idle`, r.idlePing],
        ["GET of one key (routed by its slot)", r.get],
      ],
    ));
  }
  return lines;
}

/** The markdown of the cluster section. */
export function clusterMarkdown(r: ClusterBenchResult): string {
  return section(TITLE, r, parts);
}
