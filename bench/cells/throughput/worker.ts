/**
 * One process of the throughput cell: `clients` connections of one
 * library, each running `loops` acquire + release loops on names of their
 * own (no two loops share a name: nothing is contended), as fast as they
 * go. Driven over stdin/stdout: it prints `ready` once every lock object
 * has done one cycle (connections open, scripts or functions loaded), runs
 * for `go <ms>`, and prints `{"cycles": n, "ms": elapsed}`.
 *
 * ```sh
 * deno run -A bench/cells/throughput/worker.ts <url> <library> <clients> <loops> <prefix>
 * ```
 *
 * @module
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { connect, Mutex, type RedisClient, Semaphore } from "../../../mod.ts";
import {
  IoRedis,
  Redlock,
  RsMutex,
  RsSemaphore,
  SesameRedlock,
} from "../../shared/npm.ts";
import { REDLOCK_TTL_MS, SEMAPHORE_PERMITS } from "../../shared/contenders.ts";
import { LIBRARIES, type Library } from "./types.ts";

/** One acquire + release on one name. */
type Cycle = () => Promise<void>;

/** Opens one client of `library` and makes a cycle per name on it. */
async function open(
  library: Library,
  url: string,
  names: string[],
): Promise<{ cycles: Cycle[]; close(): Promise<void> }> {
  if (library === "ours" || library === "ours-sem") {
    const redis: RedisClient = await connect(url);
    const cycles = await Promise.all(names.map(async (name): Promise<Cycle> => {
      const lock = library === "ours"
        ? new Mutex(redis, name)
        : await Semaphore.create(redis, name, { permits: SEMAPHORE_PERMITS });
      return async () => {
        const lease = await lock.acquire();
        await lease.release();
      };
    }));
    return { cycles, close: () => redis.close() };
  }
  const io = new IoRedis(url);
  const close = async () => {
    await io.quit().catch(() => io.disconnect());
  };
  if (library === "redis-semaphore" || library === "redis-semaphore-sem") {
    const cycles = names.map((name): Cycle => {
      const lock = library === "redis-semaphore"
        ? new RsMutex(io, name)
        : new RsSemaphore(io, name, SEMAPHORE_PERMITS);
      return async () => {
        await lock.acquire();
        await lock.release();
      };
    });
    return { cycles, close };
  }
  const redlock = library === "redlock"
    ? new Redlock([io])
    : new SesameRedlock([io]);
  const cycles = names.map((name): Cycle => async () => {
    const held = await redlock.acquire([name], REDLOCK_TTL_MS);
    await held.release();
  });
  return { cycles, close };
}

async function main(): Promise<void> {
  const [url, library, clientsText, loopsText, prefix] = process.argv.slice(2);
  if (!LIBRARIES.includes(library as Library)) {
    throw new Error(`unknown library '${library}'`);
  }
  const clients = Number(clientsText);
  const loops = Number(loopsText);
  const opened = await Promise.all(
    Array.from({ length: clients }, (_, c) =>
      open(
        library as Library,
        url,
        Array.from({ length: loops }, (_, l) => `${prefix}:${c}:${l}`),
      )),
  );
  const all = opened.flatMap((o) => o.cycles);
  // One cycle each: connections open, scripts (or functions) loaded.
  for (let round = 0; round < 2; round++) {
    await Promise.all(all.map((cycle) => cycle()));
  }
  process.stdout.write("ready\n");
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const [word, msText] = line.split(" ");
    if (word !== "go") break;
    const deadline = performance.now() + Number(msText);
    const started = performance.now();
    let cycles = 0;
    await Promise.all(all.map(async (cycle) => {
      // Bounded by time, and by count as a backstop.
      for (let i = 0; i < 10_000_000 && performance.now() < deadline; i++) {
        await cycle();
        cycles++;
      }
    }));
    const ms = performance.now() - started;
    process.stdout.write(JSON.stringify({ cycles, ms }) + "\n");
    break;
  }
  lines.close();
  await Promise.all(opened.map((o) => o.close()));
  process.exit(0);
}

await main();
