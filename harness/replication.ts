/**
 * Replication readiness for the harness: a primary is ready for tests that
 * count replica acknowledgements when a write followed by `WAIT` on the
 * same connection is acknowledged, not merely when `INFO replication` says
 * `state=online` (for a while after that the primary has no acknowledgement
 * of the replica's offset yet, and `WAIT` answers 0).
 *
 * @example
 * ```ts
 * import { startRedis } from "./server.ts";
 * import { waitForReplicas } from "./replication.ts";
 *
 * await using primary = await startRedis();
 * await using replica = await startRedis({
 *   args: ["--replicaof", "127.0.0.1", String(primary.port)],
 * });
 * await waitForReplicas(primary.port); // a write is acknowledged by 1 replica
 * ```
 *
 * @module
 */
import { connect } from "../mod.ts";
import { keySlot } from "../src/topologies/cluster/slot.ts";

/** How long {@linkcode waitForReplicas} waits, by default. */
const READY_MS = 30_000;
/** One `WAIT`'s timeout: short, so that a stuck round is retried. */
const WAIT_MS = 250;

/** Options of {@linkcode waitForReplicas}. */
export interface WaitForReplicasOptions {
  /**
   * Replicas that must acknowledge the write.
   * @default {1}
   */
  replicas?: number;
  /**
   * Slot ranges the node serves (a Cluster primary): the probe key is
   * chosen in them. Without it, any key.
   * @default {undefined}
   */
  slots?: [number, number][];
  /**
   * Fails after this long.
   * @default {30_000}
   */
  timeoutMs?: number;
}

/** A probe key whose slot is in `slots` (any key without them). */
function probeKey(slots: [number, number][] | undefined): string {
  for (let i = 0; i < 100_000; i++) {
    const key = `harness:replicated:${i}`;
    if (slots === undefined) return key;
    const slot = keySlot(key);
    if (slots.some(([first, last]) => first <= slot && slot <= last)) {
      return key;
    }
  }
  throw new Error(`no probe key found for the slots ${JSON.stringify(slots)}`);
}

/**
 * Waits until a write to the primary on 127.0.0.1:`port` is acknowledged
 * by `replicas` replicas (`SET` then `WAIT` on one connection, retried),
 * failing with the primary's `INFO replication` after `timeoutMs`.
 */
export async function waitForReplicas(
  port: number,
  options: WaitForReplicasOptions = {},
): Promise<void> {
  const { replicas = 1, slots, timeoutMs = READY_MS } = options;
  const key = probeKey(slots);
  const deadline = performance.now() + timeoutMs;
  await using redis = await connect({
    port,
    connectTimeoutMs: 2_000,
    reconnect: false,
  });
  for (let round = 0; performance.now() < deadline; round++) {
    await redis.send("SET", key, String(round));
    const acked = Number(await redis.send("WAIT", replicas, WAIT_MS));
    if (acked >= replicas) return;
    if (round >= 10_000) break;
  }
  const info = String(await redis.send("INFO", "replication"));
  throw new Error(
    `127.0.0.1:${port}: a write was not acknowledged by ${replicas} replica(s) ` +
      `within ${timeoutMs} ms:\n${info.trim()}`,
  );
}
