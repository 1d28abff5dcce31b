/**
 * The measure of `durability` on a Redis Cluster shard: the replication of
 * the shard that owns a Semaphore(4)'s slot is silently frozen (its primary
 * is announced at a TCP proxy's address, through which its replica
 * replicates), the primary is SIGKILLed 2.5 s later and the cluster
 * promotes the replica, which never got the writes of those 2.5 s; 12
 * workers contend all along. Without durability, grants made in that window
 * are lost with the primary (reported, not asserted: a run may have none);
 * with `replicas: 1`, no grant is counted in that window, and none over the
 * limit. See `runClusterFailover()` in `harness/failover.ts` and
 * `bench/failover/main.ts --cluster` (repeated runs, figures in bench/results).
 */
import assert from "node:assert/strict";
import {
  type FailoverRunResult,
  runClusterFailover,
} from "../harness/failover.ts";
import { test } from "./_test.ts";

const ms = (value: number | undefined) =>
  value === undefined || Number.isNaN(value) ? "n/a" : `${Math.round(value)}`;

const summary = (r: FailoverRunResult) =>
  `${r.grants} grants, ${r.grantsLost} lost with the primary, ${r.overAdmissions} over the limit (most believers ${r.mostBelievers}), ${r.lost} leases lost, ${r.shortfalls} shortfalls; failover ${
    ms(r.failoverMs)
  } ms, old primary back as a replica ${ms(r.rejoinedMs)} ms, first grant ${
    ms(r.resumedMs)
  } ms after the kill`;

test(
  "cluster durability: with replicas 1 no grant is lost with the shard's primary; without, they are counted",
  async () => {
    const without = await runClusterFailover();
    const withDurability = await runClusterFailover({
      durability: { replicas: 1 },
    });
    console.log(`cluster, without durability: ${summary(without)}`);
    console.log(`cluster, with replicas 1: ${summary(withDurability)}`);
    assert.deepEqual(without.errors, []);
    assert.deepEqual(withDurability.errors, []);
    assert.ok(without.grants > 0 && withDurability.grants > 0);
    assert.ok(!Number.isNaN(without.resumedMs), "acquisitions resumed");
    assert.ok(!Number.isNaN(withDurability.resumedMs), "acquisitions resumed");
    assert.equal(withDurability.grantsLost, 0);
    assert.equal(withDurability.overAdmissions, 0);
    assert.ok(withDurability.shortfalls > 0, "the freeze was noticed");
  },
  { timeoutMs: 120_000 },
);
