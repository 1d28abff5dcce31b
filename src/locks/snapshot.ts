/**
 * Who held a lock when a wait for it gave up: one `INFO` read right after
 * the timeout, within `SNAPSHOT_BOUND_MS` (a failed or slow read gives no
 * snapshot, and never delays the rejection past the bound). The `timeout`
 * event carries it, and `runExclusive({ wait: ms })` asks for it (by the
 * signal it hands to `acquire`) for its `LockTimeoutError`.
 *
 * @module
 */
import type { RedisClient } from "../client/client.ts";
import type { LockSnapshot } from "../errors.ts";
import { readLockInfo } from "./info.ts";
import { abortable } from "../_internal/async.ts";
import type { EngineConfig } from "./attempt.ts";

/** Longest wait for the snapshot after a timeout, in ms. */
export const SNAPSHOT_BOUND_MS = 500;

/** Where the engine leaves the snapshot of an acquire that timed out. */
export interface SnapshotRequest {
  snapshot?: LockSnapshot;
}

/** The requests, by the signal of the acquire they are for. */
const requests = new WeakMap<AbortSignal, SnapshotRequest>();

/**
 * Asks for the snapshot of the acquire given `signal`: if it times out,
 * the engine fills the request in before that acquire rejects.
 */
export function requestSnapshot(signal: AbortSignal): SnapshotRequest {
  const request: SnapshotRequest = {};
  requests.set(signal, request);
  return request;
}

/** The request made for an acquire given `signal`, if any. */
export function snapshotRequest(
  signal: AbortSignal | undefined,
): SnapshotRequest | undefined {
  return signal && requests.get(signal);
}

/**
 * Reads the lock's holders and queue once, within `SNAPSHOT_BOUND_MS`;
 * `undefined` when the read fails or is slower.
 */
export async function readSnapshot(
  client: RedisClient,
  name: string,
  prefix: string,
): Promise<LockSnapshot | undefined> {
  if (client.closed) return undefined;
  const bound = new AbortController();
  const timer = setTimeout(() => bound.abort(), SNAPSHOT_BOUND_MS);
  try {
    const info = await abortable(
      readLockInfo(client, name, prefix),
      bound.signal,
    );
    const { serverTime } = info;
    return {
      // A token is the server's clock in µs at its grant (or just above).
      holders: info.holders.map((holder) => ({
        ...holder,
        heldMs: Math.max(0, serverTime - Math.floor(holder.token / 1000)),
      })),
      queued: info.queued,
      waiters: info.waiters,
      serverTime,
    };
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A wait ended by its signal: the `timeout` event. When the caller's own
 * signal ended it (not a dispose nor a close) and someone looks (a
 * listener, a logger, a `requestSnapshot`), with a snapshot read first.
 */
export async function reportTimeout(
  config: EngineConfig,
  userSignal: AbortSignal | undefined,
  init: { id: string; permits: number; waitMs: number; reason: unknown },
): Promise<void> {
  const { client, name, options, observer } = config;
  const request = snapshotRequest(userSignal);
  const snapshot = userSignal?.aborted && (request || observer.wants("timeout"))
    ? await readSnapshot(client, name, options.prefix)
    : undefined;
  if (request) request.snapshot = snapshot;
  observer.emit("timeout", { ...init, snapshot });
}
