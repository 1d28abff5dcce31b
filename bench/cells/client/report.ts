/**
 * The report of the client cell: the table, ours against ioredis, and how
 * the floor was measured.
 *
 * @module
 */
import { int } from "../../shared/format.ts";
import { VERSIONS } from "../../shared/npm.ts";
import type { ClientBenchResult } from "./types.ts";

/** Microseconds, one decimal. */
function us(value: number): string {
  return Number.isFinite(value) ? value.toFixed(1) : "n/a";
}

function range(values: readonly number[], fmt: (v: number) => string): string {
  if (values.length === 0) return "n/a";
  return `${fmt(Math.min(...values))} – ${fmt(Math.max(...values))}`;
}

/** The result as a markdown section: the table, then how it was measured. */
export function clientMarkdown(result: ClientBenchResult): string {
  const o = result.options;
  const n = (value: number) => value.toLocaleString("en-US");
  const lines = [
    "## Client: round trip and pipelining",
    "",
    `Redis ${result.serverVersion}, one connection per client, all clients in one process. ` +
    `Sequential: ${n(o.seqWarmup)} warm-up then ${
      n(o.seqCount)
    } timed \`await PING\`, ` +
    `median over ${o.seqRounds} rounds. Pipelined: ${
      n(o.pipeCount)
    } \`SET key:i v\` ` +
    `in \`Promise.all\` batches of ${n(o.pipeBatch)}, after ${
      n(o.pipeWarmup)
    } untimed ` +
    `ones per client, median over ${o.pipeRounds} rounds. The clients alternate ` +
    `within each round, the first one rotating. CPU is the process's user + system ` +
    `time per command (it includes the runtime's I/O threads).`,
    "",
    "| client | seq p50 (us) | seq p99 (us) | seq mean (us) | seq CPU (us/op) | pipelined SET (ops/s) | pipelined CPU (us/op) | seq p50 over rounds (us) | ops/s over rounds |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
  ];
  for (const c of result.clients) {
    lines.push(
      `| ${c.name} | ${us(c.seq.p50)} | ${us(c.seq.p99)} | ${
        us(c.seq.mean)
      } | ${us(c.seq.cpu)} | ${int(c.pipelined.opsPerSec)} | ${
        c.pipelined.cpu.toFixed(2)
      } | ${range(c.seqRounds.map((r) => r.p50), us)} | ${
        range(c.pipelinedRounds.map((r) => r.opsPerSec), int)
      } |`,
    );
  }
  const floor = result.floor;
  if (floor) {
    for (const row of floor.ping) {
      lines.push(
        `| redis-benchmark \`-c 1 -t ping\` ${row.test} (floor) | ${
          us(row.p50Us)
        } | ${us(row.p99Us)} | ${us(row.roundTripUs)} | | | | | |`,
      );
    }
    lines.push(
      `| redis-benchmark \`-c 1 -P 100 -t set\` (floor) | | | | | ${
        int(floor.pipelinedSet)
      } | | | |`,
    );
  } else {
    lines.push(
      `| redis-benchmark (floor) | skipped: ${
        (result.floorError ?? "").replaceAll("|", "\\|").split("\n")[0]
      } | | | | | | | |`,
    );
  }
  const ours = result.clients[0];
  const io = result.clients.find((c) =>
    c.name === `ioredis ${VERSIONS.ioredis}`
  );
  if (ours && io) {
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    lines.push(
      "",
      `${ours.name} / ${io.name}: seq p50 ${
        ratio(ours.seq.p50, io.seq.p50)
      }x, ` +
        `seq mean ${ratio(ours.seq.mean, io.seq.mean)}x, seq CPU ${
          ratio(ours.seq.cpu, io.seq.cpu)
        }x (lower is better); pipelined ops/s ${
          ratio(ours.pipelined.opsPerSec, io.pipelined.opsPerSec)
        }x (higher is better), pipelined CPU ${
          ratio(ours.pipelined.cpu, io.pipelined.cpu)
        }x (lower is better).`,
    );
  }
  if (floor) {
    lines.push(
      "",
      `Floor: redis-benchmark with ${n(o.floorPingCount)} PINGs and ${
        n(o.floorSetCount)
      } pipelined SETs per run, one run per round (median); its mean round trip ` +
        "is 1e6 / rps, its p50/p99 come from its CSV (1 us resolution).",
    );
  }
  return lines.join("\n");
}
