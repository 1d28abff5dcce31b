/**
 * The contenders the lock cells run, by id: every library at its defaults
 * on a mutex and a semaphore ({@linkcode defaultContenders}), and the
 * hand-off strategies ({@linkcode handoffStrategies}: each library's
 * default retry and a fast one, our blocking wait and constant polling).
 * `BENCH_LOCKS_ONLY` names them by id or id prefix (`ours-`, `rs-`,
 * `redlock`, `sesame`).
 *
 * @module
 */
import {
  type Contender,
  ours,
  pollingEvery,
  redisSemaphore,
  redlock,
  SEMAPHORE_PERMITS,
} from "./contenders.ts";
import { VERSIONS } from "./npm.ts";

/** A hand-off strategy: a mutex contender and how its waiters wait. */
export interface Strategy {
  contender: Contender;
  /** Mean interval between a waiter's attempts, ms; 0 for blocking. */
  pollMs: number;
}

const OURS = "@redsync/core";
const RS = `redis-semaphore ${VERSIONS.redisSemaphore}`;
const RL = `redlock ${VERSIONS.redlock}`;
const SRL = `@sesamecare-oss/redlock ${VERSIONS.sesame}`;
const REDLOCK_RETRIES = "retryCount raised so it never gives up";
const RS_TIMEOUT = "acquireTimeout 60 s";
const REDLOCK_DEFAULTS = "defaults (retryDelay 200 ms, retryJitter 100 ms)";
const FAST = { retryDelay: 1, retryJitter: 0 };

/** The strategies of the hand-off measurement, all on a mutex. */
export function handoffStrategies(): Strategy[] {
  return [
    {
      contender: ours(
        {
          id: "ours-blocking",
          label: `${OURS} Mutex, blocking`,
          settings: "defaults (blocking hand-off)",
        },
        "mutex",
        "blocking",
      ),
      pollMs: 0,
    },
    ...[1, 10, 50].map((ms) => ({
      contender: ours(
        {
          id: `ours-poll-${ms}`,
          label: `${OURS} Mutex, polling ${ms} ms`,
          settings:
            `polling every ${ms} ms (intervalMs = maxIntervalMs = ${ms}, factor 1, jitter 0)`,
        },
        "mutex",
        pollingEvery(ms),
      ),
      pollMs: ms,
    })),
    {
      contender: redisSemaphore({
        id: "rs-mutex",
        label: `${RS} Mutex`,
        settings: `defaults (retryInterval 10 ms), ${RS_TIMEOUT}`,
      }, "mutex"),
      pollMs: 10,
    },
    {
      contender: redisSemaphore(
        {
          id: "rs-mutex-1",
          label: `${RS} Mutex, retry 1 ms`,
          settings: `retryInterval 1 ms, ${RS_TIMEOUT}`,
        },
        "mutex",
        1,
      ),
      pollMs: 1,
    },
    {
      contender: redlock(
        {
          id: "redlock",
          label: RL,
          settings: `${REDLOCK_DEFAULTS}, ${REDLOCK_RETRIES}`,
        },
        "redlock",
        {},
      ),
      pollMs: 200,
    },
    {
      contender: redlock(
        {
          id: "redlock-1",
          label: `${RL}, retry 1 ms`,
          settings: `retryDelay 1 ms, retryJitter 0, ${REDLOCK_RETRIES}`,
        },
        "redlock",
        FAST,
      ),
      pollMs: 1,
    },
    {
      contender: redlock(
        {
          id: "sesame",
          label: SRL,
          settings: `${REDLOCK_DEFAULTS}, ${REDLOCK_RETRIES}`,
        },
        "sesame",
        {},
      ),
      pollMs: 200,
    },
    {
      contender: redlock(
        {
          id: "sesame-1",
          label: `${SRL}, retry 1 ms`,
          settings: `retryDelay 1 ms, retryJitter 0, ${REDLOCK_RETRIES}`,
        },
        "sesame",
        FAST,
      ),
      pollMs: 1,
    },
  ];
}

/** Every library at its defaults, on a mutex and on a semaphore. */
export function defaultContenders(): Contender[] {
  return [
    ours(
      {
        id: "ours-mutex",
        label: `${OURS} Mutex, blocking`,
        settings: "defaults",
      },
      "mutex",
      "blocking",
    ),
    ours(
      {
        id: "ours-mutex-polling",
        label: `${OURS} Mutex, polling`,
        settings:
          'wait: "polling" (its defaults: 10 ms doubling to 1 s, jitter 0.5)',
      },
      "mutex",
      "polling",
    ),
    redisSemaphore({
      id: "rs-mutex",
      label: `${RS} Mutex`,
      settings: `defaults, ${RS_TIMEOUT}`,
    }, "mutex"),
    redlock(
      { id: "redlock", label: RL, settings: `defaults, ${REDLOCK_RETRIES}` },
      "redlock",
      {},
    ),
    redlock(
      { id: "sesame", label: SRL, settings: `defaults, ${REDLOCK_RETRIES}` },
      "sesame",
      {},
    ),
    ours(
      {
        id: "ours-sem",
        label: `${OURS} Semaphore(${SEMAPHORE_PERMITS}), blocking`,
        settings: "defaults",
      },
      "semaphore",
      "blocking",
    ),
    redisSemaphore({
      id: "rs-sem",
      label: `${RS} Semaphore(${SEMAPHORE_PERMITS})`,
      settings: `defaults, ${RS_TIMEOUT}`,
    }, "semaphore"),
  ];
}

/** Every contender id of the catalogue, once. */
export function contenderIds(): string[] {
  return [
    ...new Set([
      ...handoffStrategies().map((s) => s.contender.id),
      ...defaultContenders().map((c) => c.id),
    ]),
  ];
}
