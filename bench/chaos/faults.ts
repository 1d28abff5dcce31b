/**
 * The faults of the chaos run: SIGKILL of a holder (a new worker replaces
 * it), SIGSTOP of a holder past its lease, Redis SIGTERM or SIGKILL and
 * restart, SIGSTOP of Redis for a second, `CLIENT KILL TYPE normal`,
 * `CLIENT PAUSE ... ALL` and `SCRIPT FLUSH`; each applied once by
 * {@linkcode inject}.
 *
 * @module
 */
import type { RedisClient } from "../../mod.ts";
import type { RedisServer } from "../../harness/server.ts";
import { sleep } from "../shared/timing.ts";
import { type Fleet, signal } from "./fleet.ts";
import type { ChaosConfig, Fault } from "./types.ts";

/** Every fault the run injects, each at least once per round of them. */
export const FAULT_KINDS = [
  "holder SIGKILL",
  "holder SIGSTOP past its lease",
  "Redis SIGTERM + restart",
  "Redis SIGKILL + restart",
  "Redis SIGSTOP 1 s",
  "CLIENT KILL TYPE normal",
  "CLIENT PAUSE 1000 ALL",
  "SCRIPT FLUSH",
] as const;
/** One of {@linkcode FAULT_KINDS}. */
export type FaultKind = typeof FAULT_KINDS[number];

/** A command on the control client, retried (bounded) across outages. */
async function control(redis: RedisClient, ...args: string[]): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      await redis.send(args[0], ...args.slice(1));
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}

/** What a fault acts on. */
export interface FaultContext {
  server: RedisServer;
  redis: RedisClient;
  fleet: Fleet;
  config: ChaosConfig;
  stopAt: number;
  /** Holder faults so far (they alternate the primitive they aim at). */
  victims: number;
}

/** Applies one fault; `undefined` when no holder could be caught. */
export async function inject(
  kind: FaultKind,
  ctx: FaultContext,
): Promise<Fault | undefined> {
  const { server, redis, fleet, config } = ctx;
  const at = Date.now();
  const done = (extra: Partial<Fault> = {}): Fault => ({
    kind,
    at,
    clearedAt: Date.now(),
    ...extra,
  });
  switch (kind) {
    case "holder SIGKILL":
    case "holder SIGSTOP past its lease": {
      ctx.victims++;
      const victim = await fleet.holder(
        ctx.victims % 2 === 0 ? "mutex" : "semaphore",
      );
      if (victim === undefined) return undefined;
      const lock = victim.holding!.lock;
      const hitAt = Date.now();
      if (kind === "holder SIGKILL") {
        await fleet.kill(victim);
        if (fleet.respawnUntil > Date.now()) fleet.spawn();
      } else {
        signal(victim, "SIGSTOP");
        await sleep(config.leaseMs + 500);
        signal(victim, "SIGCONT");
      }
      return { kind, at: hitAt, clearedAt: hitAt, lock, victim: victim.life.w };
    }
    case "Redis SIGTERM + restart":
      await server.restart();
      return done();
    case "Redis SIGKILL + restart":
      await server.kill();
      await server.restart();
      return done();
    case "Redis SIGSTOP 1 s":
      server.signal("SIGSTOP");
      try {
        await sleep(1_000);
      } finally {
        server.signal("SIGCONT");
      }
      return done();
    case "CLIENT KILL TYPE normal":
      await control(redis, "CLIENT", "KILL", "TYPE", "normal");
      return done();
    case "CLIENT PAUSE 1000 ALL":
      await control(redis, "CLIENT", "PAUSE", "1000", "ALL");
      return { kind, at, clearedAt: at + 1_000 };
    case "SCRIPT FLUSH":
      await control(redis, "SCRIPT", "FLUSH");
      return done();
  }
}
