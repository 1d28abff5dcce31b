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
 * @module
 */
export { connect, RedisClient } from "./src/client.ts";
export type { CommandOptions } from "./src/client.ts";
export {
  ConnectionError,
  RedisReplyError,
  RedsyncError,
} from "./src/errors.ts";
export { redactUrl } from "./src/options.ts";
export type { ConnectOptions, ReconnectOptions } from "./src/options.ts";
export type { RedisArg, RedisReply } from "./src/resp.ts";
export { RespProtocolError } from "./src/resp.ts";
export { Script } from "./src/script.ts";
export type { ScriptRunOptions } from "./src/script.ts";
export type {
  Connector,
  TlsOptions,
  Transport,
  TransportHandlers,
  TransportOptions,
} from "./src/transport/types.ts";
export {
  DisposedError,
  LockLostError,
  LockNotHeldError,
  LockTimeoutError,
  SemaphoreMismatchError,
} from "./src/errors.ts";
export { Lease } from "./src/lease.ts";
export type {
  AcquireOptions,
  BlockingOptions,
  LockOptions,
  PollingOptions,
  WaitStrategy,
} from "./src/lock_options.ts";
export { Mutex } from "./src/mutex.ts";
export { MAX_PERMITS, Semaphore } from "./src/semaphore.ts";
export type {
  SemaphoreAcquireOptions,
  SemaphoreAttachOptions,
  SemaphoreCreateOptions,
  SemaphoreOptions,
} from "./src/semaphore.ts";
export {
  contended,
  forceRelease,
  inspect,
  listPrimitives,
} from "./src/inspect.ts";
export type { HolderInfo, LockInfo, PrimitiveSummary } from "./src/inspect.ts";
export { AutoResetEvent } from "./src/auto_reset_event.ts";
export type { EventOptions } from "./src/event_options.ts";
export { ManualResetEvent } from "./src/manual_reset_event.ts";
export type { ManualResetEventInfo } from "./src/manual_reset_event.ts";
export type { Exclusive, RunOptions, RunResult } from "./src/run.ts";
export { LockEvent, LockEventTarget } from "./src/observe.ts";
export type {
  LockEventInit,
  LockEventMap,
  LockEventType,
  LockLogger,
  LockMetrics,
} from "./src/observe.ts";
