/**
 * The npm packages the bench compares ours with, pinned here and nowhere
 * else: the clients (ioredis, node-redis) and the lock libraries
 * (redis-semaphore, redlock v5, @sesamecare-oss/redlock). On Bun they are
 * resolved by `cells/runtimes/bun_preload.ts`.
 *
 * @module
 */
export { Redis as IoRedis } from "npm:ioredis@5.4.1";
export { createClient as createNodeRedis } from "npm:redis@4.7.0";
export {
  Mutex as RsMutex,
  Semaphore as RsSemaphore,
} from "npm:redis-semaphore@5.8.0";
export { default as Redlock } from "npm:redlock@5.0.0-beta.2";
export { Redlock as SesameRedlock } from "npm:@sesamecare-oss/redlock@1.4.0";

/** Versions of the packages, as pinned in the exports above. */
export const VERSIONS = {
  ioredis: "5.4.1",
  nodeRedis: "4.7.0",
  redisSemaphore: "5.8.0",
  redlock: "5.0.0-beta.2",
  sesame: "1.4.0",
} as const;
