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
import { defaultContenders } from "../../shared/catalog.ts";
import type { Subject } from "../../shared/contenders.ts";
import { Connections } from "../../shared/connections.ts";
import { LIBRARIES, type Library } from "./types.ts";

/** One acquire + release on one name. */
type Cycle = () => Promise<void>;

/**
 * The lock of `library` on each of `names`, every one on client `client`
 * of `connections`, as the other lock cells make it (`shared/catalog.ts`).
 */
async function open(
  library: Library,
  connections: Connections,
  client: number,
  names: string[],
): Promise<{ cycles: Cycle[]; subjects: Subject[] }> {
  const contender = defaultContenders().find((c) => c.id === library);
  if (contender === undefined) throw new Error(`unknown library '${library}'`);
  const never = new AbortController().signal;
  // The first opens the client; the others share it.
  const first = await contender.open(connections, names[0], 1, client);
  const subjects = [
    first,
    ...await Promise.all(
      names.slice(1).map((name) =>
        contender.open(connections, name, 1, client)
      ),
    ),
  ];
  const cycles = subjects.map((subject): Cycle => async () => {
    const held = await subject.workers[0].acquire(never);
    await held.release();
  });
  return { cycles, subjects };
}

async function main(): Promise<void> {
  const [url, library, clientsText, loopsText, prefix] = process.argv.slice(2);
  if (!LIBRARIES.includes(library as Library)) {
    throw new Error(`unknown library '${library}'`);
  }
  const clients = Number(clientsText);
  const loops = Number(loopsText);
  const connections = await Connections.open(url);
  const opened = [];
  for (let c = 0; c < clients; c++) {
    opened.push(
      await open(
        library as Library,
        connections,
        c,
        Array.from({ length: loops }, (_, l) => `${prefix}:${c}:${l}`),
      ),
    );
  }
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
  await Promise.allSettled(
    opened.flatMap((o) => o.subjects).map((subject) => subject.close()),
  );
  await connections.close();
  process.exit(0);
}

await main();
