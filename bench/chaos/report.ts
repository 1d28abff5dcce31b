/**
 * The Markdown report of the chaos run, `bench/results/chaos.md`, from the
 * run's data and the oracle's findings (`oracle.ts`).
 *
 * @module
 */
import { percentile } from "../shared/stats.ts";
import { type ChaosData, type ChaosReport, LOCKS } from "./types.ts";

const ms = (values: number[], q: number) =>
  values.length === 0 ? "-" : String(
    Math.round(percentile([...values].sort((a, b) => a - b), q)),
  );

/** The report as Markdown (`bench/results/chaos.md`). */
export function renderReport(data: ChaosData, report: ChaosReport): string {
  const c = data.config;
  const seconds = ((data.endedAt - data.startedAt) / 1000).toFixed(0);
  const kills = data.workers.filter((w) => w.killedAt !== undefined).length;
  const ghost = report.ghostSeconds;
  const nobody = ghost["dead holder (SIGKILLed)"] +
    ghost["granted, never taken up"];
  const lines = [
    `# Chaos run: ${report.ok ? "PASS" : "FAIL"}`,
    "",
    `\`deno task chaos\` (\`bench/chaos/main.ts\`), ${
      new Date(data.startedAt).toISOString()
    }, ${data.runtime}, Redis ${data.redisVersion} with \`--appendonly yes --appendfsync always\`. ` +
    `${c.workers} worker processes (${data.workers.length} over the run, ${kills} SIGKILLed and replaced; every ${c.pollingEvery}th polls) ` +
    `contend on a Semaphore(${c.permits}) and a Mutex, leaseMs ${c.leaseMs}, waiterTtlMs ${c.waiterTtlMs}; ` +
    `${data.faults.length} faults in ${seconds} s. Times are epoch ms of one machine (the workers log them with microseconds).`,
    "",
    "## Safety",
    "",
    "| primitive | acquisitions | max live holders (limit) | over-admissions | leases lost (signal aborted) |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...LOCKS.map((lock) =>
      `| ${lock} | ${report.acquisitions[lock]} | ${report.maxLive[lock]} (${
        lock === "mutex" ? 1 : c.permits
      }) | ${report.overAdmissions[lock]} | ${report.lost[lock]} |`
    ),
    "",
    `- Over-admissions: **${
      report.overAdmissions.semaphore + report.overAdmissions.mutex
    }** (a hold counts from \`acquire()\` resolving until \`release()\` is called, ` +
    "the lease's `signal` aborts, its last local deadline, or its process is SIGKILLed, whichever is first; a frozen holder counts only until its deadline).",
    `- Fencing-token violations: **${report.tokenViolations}** (unique per primitive; mutex tokens increase in acquisition order; ` +
    "a token acquired before another acquire was asked is smaller; tokens after the run are above all).",
    `- Permits after the run: ${
      data.final.ok ? "all acquirable" : "**NOT all acquirable**"
    } (Semaphore ${c.permits} permits at once and the Mutex) ${data.final.ms} ms after the last worker was gone (bound waiterTtlMs + leaseMs + 2 s = ${data.final.boundMs} ms).`,
    `- Ghost-held permit-seconds (Redis listed a holder nobody alive held; sampled every ~100 ms with \`inspect()\`): ` +
    `**${nobody.toFixed(1)}** held by nobody alive (${
      ghost["dead holder (SIGKILLed)"].toFixed(1)
    } by SIGKILLed holders until their lease ended, ${
      ghost["granted, never taken up"].toFixed(1)
    } granted and never taken up); besides, ${
      ghost["frozen or lost holder"].toFixed(1)
    } by frozen (SIGSTOPped) holders past their local deadline and ${
      ghost["release in flight"].toFixed(1)
    } while a release was in flight.`,
    "",
    "## Faults and recovery",
    "",
    "Recovery: the next successful acquisition of the primitive the fault hit (Redis faults: of each primitive) " +
    "after the fault ended (server back and answering PING, SIGCONT sent, pause over; a holder fault ends at once: " +
    "the others must get on without the victim).",
    "",
    "| fault | count | fault lasted p50 (ms) | from its end p50 / max (ms) | from its start p50 / max (ms) | no acquisition after |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...report.recoveries.map((r) =>
      `| ${r.kind} | ${r.count} | ${ms(r.durations, 0.5)} | ${
        ms(r.fromClear, 0.5)
      } / ${ms(r.fromClear, 1)} | ${ms(r.fromFault, 0.5)} / ${
        ms(r.fromFault, 1)
      } | ${r.none} |`
    ),
    "",
    "## Errors callers saw",
    "",
    "| call | error | count | expected |",
    "| --- | --- | ---: | --- |",
    ...report.errors.map((e) =>
      `| ${e.op} | ${e.name} | ${e.count} | ${e.expected ? "yes" : "**no**"} |`
    ),
    "",
    "acquire() is expected to reject only with its own signals' reasons (TimeoutError after 8 s, AbortError at the end of the run); " +
    "release() with LockLostError only for a lease already lost; connect and Semaphore.create (worker start-up, retried) may meet a server that is down.",
    "",
    "## Violations",
    "",
    ...(report.violations.length === 0 ? ["None."] : [
      ...report.violations.slice(0, 12).map((v) => `- ${v}`),
      ...(report.violations.length > 12
        ? [`- ... and ${report.violations.length - 12} more.`]
        : []),
    ]),
    "",
  ];
  return lines.join("\n");
}
