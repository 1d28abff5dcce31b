/**
 * The Redis Cluster harness itself (harness/cluster.ts): startup, slot
 * migration with a key in the slot, a manual failover, a kill, and close.
 */
import assert from "node:assert/strict";
import { startCluster } from "../harness/cluster.ts";
import { test } from "./_test.ts";

test(
  "cluster harness: 3+3 start, a slot migrates with its key, a replica fails over, a killed primary is replaced",
  async () => {
    const cluster = await startCluster();
    try {
      assert.equal(cluster.nodes.length, 6);
      assert.match(
        cluster.url,
        /^redis\+cluster:\/\/(127\.0\.0\.1:\d+,){2}127\.0\.0\.1:\d+$/,
      );
      assert.equal(cluster.seeds.length, 3);
      const primaries = await cluster.primaries();
      assert.equal(primaries.length, 3);
      const slots = primaries.flatMap((p) => p.slots)
        .reduce((sum, [first, last]) => sum + last - first + 1, 0);
      assert.equal(slots, 16384);

      const key = "harness:{k}";
      const slot = await cluster.keySlot(key);
      const from = await cluster.ownerOf(slot);
      assert.equal(await cluster.cli(from, "-c", "SET", key, "v"), "OK");
      const to = primaries.find((p) => p.port !== from)!.port;
      const steps: string[] = [];
      await cluster.migrateSlot(slot, to, {
        pauseBetweenSteps: async (step) => {
          steps.push(step);
          if (step === "migrating") {
            // Half-migrated: the source serves the key it still has and
            // sends a client asking for a missing one to the target.
            assert.equal(await cluster.cli(from, "GET", key), "v");
            assert.equal(
              await cluster.cli(from, "GET", "harness:{k}:missing"),
              `ASK ${slot} 127.0.0.1:${to}`,
            );
          }
        },
      });
      assert.deepEqual(steps, ["importing", "migrating", "moved-keys"]);
      assert.equal(await cluster.ownerOf(slot), to);
      assert.equal(await cluster.cli(to, "GET", key), "v");
      assert.match(
        await cluster.cli(from, "GET", key),
        /^MOVED \d+ 127\.0\.0\.1:\d+$/,
      );

      const primaryPorts = new Set(primaries.map((p) => p.port));
      const replica = cluster.nodes.find((n) => !primaryPorts.has(n.port))!;
      await cluster.failover(replica.port);
      const after = await cluster.primaries();
      assert.ok(after.some((p) => p.port === replica.port));
      assert.equal(after.length, 3);

      // A killed primary: its replica takes over.
      const victim = after.find((p) => p.port !== replica.port)!.port;
      await cluster.kill(victim);
      await cluster.waitFailoverOf(victim);
      const survivors = await cluster.primaries();
      assert.equal(survivors.length, 3);
      assert.ok(!survivors.some((p) => p.port === victim));
    } finally {
      await cluster.close();
    }
    await cluster.close(); // idempotent
    assert.ok(cluster.nodes.every((n) => !n.alive));
  },
  { timeoutMs: 90_000 },
);
