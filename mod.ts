/**
 * # @redsync/core
 *
 * Distributed synchronization primitives on Redis, with zero runtime
 * dependencies: a thin RESP2/RESP3 client for Deno, Bun and Node, on which
 * the locks are built.
 *
 * @example Connect and send commands
 * ```ts
 * import { connect } from "@redsync/core";
 * await using redis = await connect("redis://127.0.0.1:6379");
 * await redis.send("SET", "greeting", "hello");
 * console.log(await redis.send("GET", "greeting")); // "hello"
 * ```
 *
 * The operator views (`inspect`, `listPrimitives`, `contended`,
 * `forceRelease`, `inspectEvent`) are in `@redsync/core/admin`; the socket
 * transports and their types (`Connector`, `TlsOptions`, ...) in
 * `@redsync/core/transport`; OpenTelemetry in `@redsync/core/otel`; the CLI
 * in `@redsync/core/cli`.
 *
 * @module
 */
export { RedisClient } from "./src/client/client.ts";
export { connect } from "./src/connect/connect.ts";
export type {
  CloseOptions,
  CommandOptions,
} from "./src/client/client_options.ts";
export {
  ConnectionError,
  RedisReplyError,
  RedisUnavailableError,
  RedsyncError,
} from "./src/errors.ts";
export { redactUrl } from "./src/topologies/single/options.ts";
export type { ConnectOptions } from "./src/connect/options.ts";
export type { ClientSettings, ReconnectOptions } from "./src/client/options.ts";
export type { SentinelOptions } from "./src/topologies/sentinel/options.ts";
export type {
  ClusterOptions,
  NodeAddress,
} from "./src/topologies/cluster/options.ts";
export type { RedisArg, RedisReply } from "./src/resp/types.ts";
export { RespProtocolError } from "./src/errors.ts";
export { Script } from "./src/client/script.ts";
export type { ScriptRunOptions } from "./src/client/script.ts";
export {
  DisposedError,
  DurabilityError,
  LockLostError,
  LockNotHeldError,
  LockTimeoutError,
  SemaphoreMismatchError,
} from "./src/errors.ts";
export type { HolderSnapshot, LockSnapshot } from "./src/errors.ts";
export { Lease } from "./src/locks/lease.ts";
export { FencedResource } from "./src/fencing.ts";
export {
  acquireAll,
  MultiLease,
  type MultiLockPart,
} from "./src/locks/multi_lock.ts";
export { Redlock, type RedlockExclusive } from "./src/redlock/redlock.ts";
export { RedlockLease } from "./src/redlock/lease.ts";
export {
  type NodeOutcome,
  type NodeOutcomeKind,
  QuorumError,
} from "./src/redlock/errors.ts";
export type { RedlockOptions } from "./src/redlock/options.ts";
export type { FencedResourceOptions } from "./src/fencing.ts";
export type { DurabilityOptions } from "./src/locks/durability.ts";
export type {
  AcquireOptions,
  BlockingOptions,
  LockOptions,
  PollingOptions,
  WaitStrategy,
} from "./src/locks/options.ts";
export { Mutex } from "./src/locks/mutex.ts";
export {
  ReadWriteLock,
  type ReadWriteLockOptions,
} from "./src/locks/rw_lock.ts";
export { MAX_PERMITS, Semaphore } from "./src/locks/semaphore.ts";
export type {
  SemaphoreAcquireOptions,
  SemaphoreAttachOptions,
  SemaphoreCreateOptions,
  SemaphoreOptions,
} from "./src/locks/semaphore.ts";
export type { HolderInfo, LockInfo, LockKind } from "./src/locks/info.ts";
export { AutoResetEvent } from "./src/events/auto_reset_event.ts";
export type { EventOptions } from "./src/events/options.ts";
export { ManualResetEvent } from "./src/events/manual_reset_event.ts";
export type { ManualResetEventInfo } from "./src/events/manual_reset_event.ts";
export type {
  Exclusive,
  RunOptions,
  RunResult,
} from "./src/locks/run_exclusive.ts";
export { LockEvent, LockEventTarget } from "./src/observe.ts";
export type { LockPrimitive } from "./src/locks/primitive.ts";
export type {
  LockEventInit,
  LockEventMap,
  LockEventType,
  LockLogger,
  LockMetrics,
} from "./src/observe.ts";
