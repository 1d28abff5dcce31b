/**
 * The short chaos run (`bench/chaos/run.ts`, {@linkcode SHORT}): 5 worker
 * processes on a Semaphore(3) and a Mutex of a private redis-server with AOF,
 * every fault kind at least once, then the oracle. The long run is
 * `deno task chaos`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { FAULT_KINDS } from "../bench/chaos/faults.ts";
import { renderReport } from "../bench/chaos/report.ts";
import { runChaos, SHORT } from "../bench/chaos/run.ts";
import { requireRedisServer } from "../harness/server.ts";
import { test } from "./_test.ts";

test(
  "chaos: workers under injected faults (kills, freezes, Redis restarts, CLIENT KILL/PAUSE, SCRIPT FLUSH): no over-admission, tokens only go up, no permit lost",
  async () => {
    requireRedisServer();
    const { data, report } = await runChaos(
      SHORT,
      () => {},
      fileURLToPath(new URL("../bench/chaos/worker.ts", import.meta.url)),
    );
    const summary = renderReport(data, report);
    const kinds = new Set(data.faults.map((fault) => fault.kind));
    assert.ok(
      FAULT_KINDS.every((kind) => kinds.has(kind)),
      `not every fault kind ran: ${[...kinds].join(", ")}\n${summary}`,
    );
    assert.ok(
      report.acquisitions.semaphore > 20 && report.acquisitions.mutex > 20,
      `too few acquisitions to judge:\n${summary}`,
    );
    assert.equal(
      report.overAdmissions.semaphore + report.overAdmissions.mutex,
      0,
      summary,
    );
    assert.equal(report.tokenViolations, 0, summary);
    assert.ok(data.final.ok, summary);
    assert.deepEqual(report.violations, [], summary);
  },
  { timeoutMs: 120_000 },
);
