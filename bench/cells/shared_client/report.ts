/**
 * The report of the shared-client cells: the hand-off table against one
 * client per worker, the web-server cell, and their targets met or missed.
 *
 * @module
 */
import { SEMAPHORE_PERMITS } from "../../shared/contenders.ts";
import { int, msText, num as fixed, yes } from "../../shared/format.ts";
import type { Floors } from "../types.ts";
import type { SharedBenchResult, SharedHandoffResult } from "./types.ts";

/** The target of the ratios and of flatness in W. */
export const SHARED_TARGET = 1.2;

/** Ratios here read best with two decimals. */
function num(value: number, digits = 2): string {
  return fixed(value, digits);
}

function label(kind: SharedHandoffResult["kind"]): string {
  return kind === "mutex"
    ? "Mutex"
    : `Semaphore(${SEMAPHORE_PERMITS}), 1 permit free`;
}

/** The per-worker cell of the same lock and W, if any. */
function perWorkerOf(
  shared: SharedBenchResult,
  cell: SharedHandoffResult,
): SharedHandoffResult | undefined {
  return shared.handoff.find((h) =>
    h.layout === "per-worker" && h.kind === cell.kind &&
    h.workers === cell.workers
  );
}

interface Ratio {
  cell: SharedHandoffResult;
  p50: number;
  p90: number;
  p99: number;
}

function ratios(shared: SharedBenchResult): Ratio[] {
  return shared.handoff.flatMap((cell) => {
    const other = cell.layout === "shared"
      ? perWorkerOf(shared, cell)
      : undefined;
    if (!other) return [];
    return [{
      cell,
      p50: cell.latency.p50 / other.latency.p50,
      p90: cell.latency.p90 / other.latency.p90,
      p99: cell.latency.p99 / other.latency.p99,
    }];
  });
}

/** The targets of the shared-client cells, as bullet points. */
export function sharedTargetLines(shared: SharedBenchResult): string[] {
  const lines: string[] = [];
  const list = ratios(shared);
  const within = (key: "p50" | "p90") =>
    list.every((r) => r[key] <= SHARED_TARGET);
  lines.push(
    `- Shared-client hand-off within ${SHARED_TARGET}x of one client per worker at the same W (${
      list.map((r) => `${r.cell.kind} W=${r.cell.workers}`).join(", ")
    }): p50 ${yes(within("p50"))}, p90 ${yes(within("p90"))}: ${
      list.map((r) =>
        `${r.cell.kind} W=${r.cell.workers} p50 ${num(r.p50)}x, p90 ${
          num(r.p90)
        }x, p99 ${num(r.p99)}x`
      ).join("; ")
    }.`,
  );
  const flat: string[] = [];
  let flatOk = true;
  for (const kind of ["mutex", "semaphore"] as const) {
    const cells = shared.handoff.filter((h) =>
      h.layout === "shared" && h.kind === kind
    );
    if (cells.length === 0) continue;
    const base = cells[0];
    const worst = Math.max(
      ...cells.map((c) => c.latency.p50 / base.latency.p50),
    );
    flatOk &&= worst <= SHARED_TARGET;
    flat.push(
      `${kind}: ${
        cells.map((c) =>
          `W=${c.workers.toLocaleString("en-US")} ${
            msText(c.latency.p50)
          } ms (${num(c.latency.p50 / base.latency.p50)}x)`
        ).join(", ")
      }`,
    );
  }
  // Context: the W without a per-worker cell against the largest one's.
  const beyond = shared.handoff.flatMap((c) => {
    const pw = shared.handoff.filter((h) =>
      h.layout === "per-worker" && h.kind === c.kind
    ).at(-1);
    return c.layout === "shared" && pw && !perWorkerOf(shared, c)
      ? [
        `${c.kind} W=${c.workers.toLocaleString("en-US")} ${
          num(c.latency.p50 / pw.latency.p50)
        }x`,
      ]
      : [];
  });
  lines.push(
    `- Shared-client hand-off p50 flat in W (every W within ${SHARED_TARGET}x of the smallest W's): ${
      yes(flatOk)
    }: ${flat.join("; ")}.${
      beyond.length > 0
        ? ` Against one client per worker at the largest W it was run at: ${
          beyond.join(", ")
        }.`
        : ""
    }`,
  );
  const sharedCells = shared.handoff.filter((h) => h.layout === "shared");
  const perWorker = shared.handoff.filter((h) => h.layout === "per-worker");
  const conns = [...new Set(sharedCells.map((h) => h.connections))];
  lines.push(
    `- A shared client opens 2 connections (main + wake hub) whatever W: ${
      yes(sharedCells.every((h) => h.connections === 2))
    }: ${conns.join(", ")} in every shared cell up to W = ${
      Math.max(...sharedCells.map((h) => h.workers)).toLocaleString("en-US")
    }; one client per worker: ${
      perWorker.map((h) => `${h.kind} ${h.connections} at W=${h.workers}`)
        .join(", ")
    }.`,
  );
  const web = shared.web;
  lines.push(
    `- Web server (one client, ${
      web.loops.toLocaleString("en-US")
    } request loops over ${web.names} mutexes): ${
      int(web.perSec)
    } critical sections/s, ${
      num(web.perSec / (web.names * 1_000 / web.criticalP50) * 100, 0)
    }% of the ceiling of ${web.names} names each always held (${
      int(web.names * 1_000 / web.criticalP50)
    }/s with the measured ${
      msText(web.criticalP50)
    } ms critical section); wait p50 ${msText(web.wait.p50)} ms, p99 ${
      msText(web.wait.p99)
    } ms; ${web.connections} connections; no name ever had two holders.`,
  );
  return lines;
}

/** The markdown of the shared-client cells. */
export function sharedMarkdown(
  shared: SharedBenchResult,
  floors: Floors,
): string {
  const o = shared.options;
  const n = (v: number) => v.toLocaleString("en-US");
  const wake = floors.idleWakeUs / 1_000;
  const lines: string[] = [
    "### Shared client: every waiter on one `RedisClient`",
    "",
    `Since the wake hub, one client serves any number of waiters: each waiter of each primitive on a client is woken through that client's one hub connection (a subscriber \`SUBSCRIBE\`d to the client's wake channel, on which the script that grants a waiter \`PUBLISH\`es its wake-up), so a client needs its main connection and the hub's whatever the number of waiters. These cells measure what sharing costs. They took ${
      shared.seconds.toFixed(0)
    } s.`,
    "",
    `**Hand-off, shared against one client per worker.** The controlled rounds of the hand-off table above (the holder releases once the other W-1 workers have entered \`acquire()\` and the queue ZSET has W-1 members, then ${o.settleMs} ms more; the latency is from its \`release()\` call to the next holder's \`acquire()\` resolving; the releaser re-enters only once a waiter has the lock), with every worker's \`Mutex\` (or \`Semaphore\`) object on ONE client ("shared": one \`connect()\` for all W workers), and, at W = ${
      o.perWorker.join(" and ")
    }, the same cell with one client per worker ("per-worker"), run just before it. There are no per-worker cells at W = ${
      o.workers.filter((w) => !o.perWorker.includes(w)).map(n).join(" and ")
    }: a client per worker would take 2 connections per worker, 20,000 at W = 10,000, beyond Redis's default \`maxclients\` of 10,000. The semaphore has ${SEMAPHORE_PERMITS} permits, of which a filler (not one of the W) holds ${
      SEMAPHORE_PERMITS - 1
    } for the whole cell, so one permit goes round through the semaphore's scripts; its invariant counts the filler's permits (at most ${SEMAPHORE_PERMITS} in all). Every lock has \`waiterTtlMs\` ${
      n(o.waiterTtlMs)
    } (both layouts): a waiter refreshes its place every ${
      n(o.waiterTtlMs / 3 / 1_000)
    } s, so at W = 10,000 the heartbeats do not dominate. ${o.warmup} unmeasured hand-offs, then ${
      n(o.rounds)
    } measured ones within ${o.cellMs / 1_000} s (from W = ${n(o.largeFrom)}: ${
      n(o.largeRounds)
    } within ${
      o.largeCellMs / 1_000
    } s; "queued" is the time from the start of the cell, clients opened and W waiters queued, to the first measured round's queue being full). "connections" counts the \`CLIENT LIST\` entries of every type (\`normal\`, and \`pubsub\` for the hub's subscriber) with the cell's own \`clientName\`, taken in the last unmeasured round while all W-1 waiters wait. Commands per acquisition count what our client sends (\`fcall\`, \`evalsha\`, \`eval\`, \`function|load\`, and the hub's \`subscribe\`, \`ssubscribe\`, \`unsubscribe\`, \`sunsubscribe\`, \`ping\`) over the measured rounds only. The floor is the same run's idle \`RPUSH\` -> \`BLPOP\` (p50 ${
      num(floors.idleWakeUs, 0)
    } us; our PING p50 ${
      num(floors.pingUs, 1)
    } us; an idle \`PUBLISH\` -> \`SUBSCRIBE\`, the mechanism of the wake-ups, p50 ${
      num(floors.idlePublishUs, 0)
    } us).`,
    "",
    "| lock | clients | W | connections | rounds | queued (s) | p50 (ms) | p90 (ms) | p99 (ms) | p50 / idle floor | shared / per-worker p50, p90, p99 | to oldest | commands/acq. | Redis us/acq. |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const h of shared.handoff) {
    const other = h.layout === "shared" ? perWorkerOf(shared, h) : undefined;
    const ratio = other
      ? `${num(h.latency.p50 / other.latency.p50)}, ${
        num(h.latency.p90 / other.latency.p90)
      }, ${num(h.latency.p99 / other.latency.p99)}`
      : h.layout === "shared"
      ? "no per-worker cell"
      : "";
    lines.push(
      `| ${label(h.kind)} | ${
        h.layout === "shared" ? "1 shared" : `${n(h.workers)}, one per worker`
      } | ${n(h.workers)} | ${int(h.connections)} | ${n(h.latency.count)}${
        h.capped ? " (time limit)" : ""
      } | ${num(h.queueSeconds, 2)} | ${msText(h.latency.p50)} | ${
        msText(h.latency.p90)
      } | ${msText(h.latency.p99)} | ${
        num(h.latency.p50 / wake, 1)
      } | ${ratio} | ${num(h.toOldest * 100, 0)}% | ${
        num(h.commandsPerAcquire, 2)
      } | ${num(h.redisUsPerAcquire, 0)} |`,
    );
  }
  const web = shared.web;
  const ceiling = web.names * 1_000 / web.criticalP50;
  lines.push(
    "",
    `**Web server.** One client; ${
      n(web.loops)
    } concurrent request loops, each doing \`acquire()\` -> ${web.workMs} ms of work (\`await\` a ${web.workMs} ms timer) -> \`release()\` on one of ${web.names} \`Mutex\` objects (names) picked at random per request, all at their defaults; ${
      o.web.warmupMs / 1_000
    } s unmeasured, then a ${
      num(web.windowMs / 1_000, 1)
    } s window. Critical sections per second over all names; the ceiling is every name held all the time, ${web.names} / the measured critical section; the wait of each acquisition completed in the window; the longest wait including loops still waiting at the end; Jain's index over the requests per loop; the connections with the cell's \`clientName\` in \`CLIENT LIST\` (every type) mid-window; one oracle per name checks at most one holder.`,
    "",
    "| loops | names | CS/s | ceiling (CS/s) | share of ceiling | critical section p50 (ms) | wait p50 (ms) | wait p90 (ms) | wait p99 (ms) | longest wait (ms) | Jain | connections | commands/acq. | Redis us/acq. |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    `| ${n(web.loops)} | ${web.names} | ${int(web.perSec)} | ${
      int(ceiling)
    } | ${num(web.perSec / ceiling * 100, 0)}% | ${msText(web.criticalP50)} | ${
      msText(web.wait.p50)
    } | ${msText(web.wait.p90)} | ${msText(web.wait.p99)} | ${
      msText(web.maxWait)
    } | ${num(web.jain, 3)} | ${web.connections} | ${
      num(web.commandsPerAcquire, 2)
    } | ${num(web.redisUsPerAcquire, 0)} |`,
    "",
    "The targets of these cells are in the list at the top of this section.",
  );
  return lines.join("\n");
}
