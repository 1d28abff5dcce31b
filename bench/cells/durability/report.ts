/**
 * The report of the durability cell: mutexes with
 * `durability: { replicas: 1 }` against the same mutexes without, on one
 * primary with one replica, each figure also over the PING floor of the
 * same run, and the targets met or missed.
 *
 * @module
 */
import { floorsLine, row, section, verdict } from "../../shared/ab/report.ts";
import { int, num, usFine as us, yes } from "../../shared/format.ts";
import type {
  DurabilityBenchResult,
  DurabilityCell,
  Mode,
  WaitCount,
} from "./types.ts";

const TITLE = "## Durability: replica-acknowledged grants against plain grants";

/**
 * With durability within this factor of without (p50): a grant then costs
 * one more round trip (`EXTEND` + `WAIT`) plus the replica's
 * acknowledgement, on top of the two round trips of a cycle.
 */
export const DURABILITY_TARGET = 2;

function perGrant(count: WaitCount): number {
  return count.grants > 0 ? count.waits / count.grants : NaN;
}

/** The PING p50 of a mode, ms. */
function ping(r: DurabilityBenchResult, mode: Mode): number {
  return r.ping?.[mode].p50 ?? NaN;
}

/** The section below its title, measured. */
function parts(r: DurabilityBenchResult) {
  const o = r.options;
  const replicas = o.durability.replicas;
  const timeoutMs = o.durability.timeoutMs ?? 100;
  const intro =
    `The same lock measurements on mutexes with \`durability: { replicas: ${replicas} }\` (\`timeoutMs\` ${timeoutMs}, \`onShortfall\` "fail": the defaults) and on mutexes without, all on one private primary (${r.primaryUrl}, Redis ${r.version}, no persistence, \`--repl-diskless-sync-delay 0\`) with one replica (${r.replicaUrl}, \`--replicaof\`), online ${
      num(r.startSeconds, 1)
    } s after the primary started; not the bench's own server. Each mode has its own two clients (\`connect()\`) in this process; the primary, the replica and this process share the machine's cores. With durability, each grant (direct or handed off) is followed by \`EXTEND\` and \`WAIT ${replicas} ${timeoutMs}\` written together on one connection, and \`acquire()\` resolves once the replica has acknowledged it; \`release()\` is the same in both modes. The two modes are measured interleaved, sample by sample (with then without, then without then with, ...), in ${o.rounds} rounds; the percentiles are over the samples of all rounds. The section took ${
      num(r.seconds, 0)
    } s.`;
  const lines: string[] = [
    `- **PING**: ${int(o.pingWarmup)} warm-up, then ${
      int(o.pings)
    } sequential \`await PING\` per round and mode. **SET, with: SET + WAIT**: ${
      int(o.writeWarmup)
    } warm-up, then ${
      int(o.writes)
    } per round: without, a \`SET\`; with, a \`SET\` and a \`WAIT ${replicas} ${timeoutMs}\` sent together (one write to the socket, as the locks send \`EXTEND\` and \`WAIT\`), timed until both replies are in: a round trip plus the replica's acknowledgement. **PING after ${o.settleMs} ms idle**: ${o.idleSamples} per round, each after sleeping ${o.settleMs} ms.`,
    `- **Uncontended**: one \`Mutex\` on one client, ${
      int(o.uncontendedWarmup)
    } warm-up cycles, then ${
      int(o.uncontendedCycles)
    } timed \`acquire()\` + \`release()\` cycles per round and mode. Without durability a cycle is two round trips (\`ACQUIRE\`, \`RELEASE\`); with it, three, the middle one waiting for the replica.`,
    `- **Hand-off**: two clients, a \`Mutex\` of the same name on each (blocking hand-off); one holds it, the other waits. Once the waiter is in the queue ZSET, ${o.settleMs} ms, a timed \`PING\` from the holder's client (the cell's own floor: a round trip after the same idling as the release), ${o.settleMs} ms more, then the holder calls \`release()\`; the latency runs from that call to the waiter's \`acquire()\` resolving (one process, one clock). The releaser then calls \`acquire()\` and waits in turn. ${o.handoffWarmup} unmeasured hand-offs, then ${
      int(o.handoffRounds)
    } measured per round and mode within ${o.cellMs / 1_000} s.`,
    "",
    "| measurement | without p50 / p99 (us) | with p50 / p99 (us) | with / without p50, p99 | added p50 (us) | p50 / PING without, with | without p50 over rounds (us) | with p50 over rounds (us) | samples per mode |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
  ];
  const rows: [string, DurabilityCell | undefined][] = [
    ["PING (floor)", r.ping],
    [`SET; with: SET + WAIT ${replicas} together`, r.write],
    [`PING after ${o.settleMs} ms idle`, r.idlePing],
    ["Uncontended acquire + release", r.uncontended],
    ["Hand-off between two clients", r.handoff],
    ["Hand-off: its own floor (PING after idling)", floorCell(r.handoff)],
  ];
  for (const [label, cell] of rows) {
    if (!cell) continue;
    lines.push(row(label, cell, "without", "with", [
      us(cell.with.p50 - cell.without.p50),
      `${num(cell.without.p50 / ping(r, "without"), 2)}, ${
        num(cell.with.p50 / ping(r, "with"), 2)
      }`,
    ]));
  }
  return { intro, targets: targetLines(r), measurements: lines };
}

/** The target lines, as bullet points. */
function targetLines(r: DurabilityBenchResult): string[] {
  const lines: string[] = [];
  const replicas = r.options.durability.replicas;
  const target = (what: string, cell: DurabilityCell | undefined) => {
    if (!cell) return;
    lines.push(
      `- ${what} with \`durability: { replicas: ${replicas} }\` within ${DURABILITY_TARGET}x of the same without (p50): ${
        verdict(cell, "without", "with", DURABILITY_TARGET)
      }; durability added ${
        us(cell.with.p50 - cell.without.p50)
      } us to the p50, ${
        num((cell.with.p50 - cell.without.p50) / ping(r, "with"), 1)
      } PINGs.`,
    );
  };
  target("Uncontended `Mutex` acquire + release cycle", r.uncontended);
  const { uncontended: unc, write } = r;
  if (unc && write) {
    // A cycle without is two round trips (ACQUIRE, RELEASE): half of it
    // is one, and the SET + WAIT row gives the acknowledgement alone.
    const trip = unc.without.p50 / 2;
    const ack = write.with.p50 - write.without.p50;
    const added = unc.with.p50 - unc.without.p50;
    lines.push(
      `  - Against "one more round trip plus the replica's acknowledgement": one round trip of the cycle without durability is about ${
        us(trip)
      } us (half its p50: \`ACQUIRE\`, \`RELEASE\`), and the acknowledgement alone adds ${
        us(ack)
      } us to a write (a \`SET\` and \`WAIT ${replicas}\` written together, ${
        us(write.with.p50)
      } us, against a \`SET\`, ${us(write.without.p50)} us): ${
        us(trip + ack)
      } us in all, against the ${us(added)} us measured (${
        num(added / (trip + ack), 2)
      }x of it).`,
    );
  }
  target("Hand-off between two clients", r.handoff);
  const { uncontended, handoff } = r.waits;
  const acked = r.shortfalls === 0 &&
    [uncontended, handoff].every((c) => Math.abs(perGrant(c) - 1) < 0.005);
  lines.push(
    `- Every grant with durability waited for the replica once, and the replica acknowledged each in time: ${
      yes(acked)
    }: \`WAIT\` calls per grant (\`INFO commandstats\` over the measured samples) ${
      num(perGrant(uncontended), 3)
    } in the uncontended cell (${int(uncontended.waits)} for ${
      int(uncontended.grants)
    } grants) and ${num(perGrant(handoff), 3)} in the hand-off (${
      int(handoff.waits)
    } for ${
      int(handoff.grants)
    }); \`shortfall\` events: ${r.shortfalls}; \`WAIT\` replies below ${replicas} in the write cell: ${r.writeShort}.`,
  );
  if (r.ping) {
    lines.push(floorsLine(
      "- The floors of the two modes are the same server and the same kind of client: PING p50 with / without ",
      r.ping,
      "without",
      "with",
      [
        [`PING after ${r.options.settleMs} ms idle`, r.idlePing],
        ["the hand-off's own floor", floorCell(r.handoff)],
      ],
    ));
  }
  return lines;
}

/** The markdown of the durability section. */
export function durabilityMarkdown(r: DurabilityBenchResult): string {
  return section(TITLE, r, parts);
}

/** The hand-off's own floor as a row (no rounds of its own). */
function floorCell(
  cell: DurabilityCell | undefined,
): DurabilityCell | undefined {
  if (!cell?.floor) return undefined;
  return {
    without: cell.floor.without,
    with: cell.floor.with,
    roundP50: { without: [], with: [] },
    capped: false,
  };
}
