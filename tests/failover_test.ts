/**
 * The measure of `durability`: a Sentinel failover that loses every write
 * made in its last 2.5 s (replication silently frozen, then the primary
 * killed) while 12 workers contend for a Semaphore(4). Without durability,
 * grants made in that window are lost with the primary (their holders hold
 * a permit the new primary never knew of); with `replicas: 1`, no grant is
 * counted in that window, and none over the limit. See `harness/failover.ts`
 * and `bench/failover/main.ts` (repeated runs, figures in bench/results).
 */
import assert from "node:assert/strict";
import { runFailover } from "../harness/failover.ts";
import { test } from "./_test.ts";

test(
  "failover: with durability no grant is lost with the primary; without, they are counted",
  async () => {
    const without = await runFailover();
    const withDurability = await runFailover({ durability: { replicas: 1 } });
    console.log(
      `without durability: ${without.grantsLost} grants lost with the primary, ${without.overAdmissions} over the limit; with replicas 1: ${withDurability.grantsLost} lost, ${withDurability.overAdmissions} over, ${withDurability.shortfalls} shortfalls`,
    );
    assert.deepEqual(without.errors, []);
    assert.deepEqual(withDurability.errors, []);
    assert.ok(without.grants > 0 && withDurability.grants > 0);
    assert.ok(!Number.isNaN(withDurability.resumedMs), "acquisitions resumed");
    assert.equal(withDurability.grantsLost, 0);
    assert.equal(withDurability.overAdmissions, 0);
    assert.ok(withDurability.shortfalls > 0, "the freeze was noticed");
  },
  { timeoutMs: 120_000 },
);
