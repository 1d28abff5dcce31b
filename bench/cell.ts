/**
 * Runs one cell of the bench and prints its report, writing nothing:
 *
 * ```sh
 * deno run -A bench/cell.ts <id>                  # e.g. cluster, durability, runtimes, ours-shared
 * BENCH_QUICK=1 deno run -A bench/cell.ts <id>    # its smoke run
 * deno run -A bench/cell.ts                       # lists the cells
 * ```
 *
 * Uses `REDIS_URL` when set; otherwise starts a private `redis-server` and
 * stops it at the end. A cell of the lock section runs without the
 * section's floors (the libraries cell measures them): the figures it sets
 * against them print "n/a". `BENCH_LOCKS_ONLY` keeps the libraries cell's
 * contenders, `BENCH_RUNTIMES` the runtimes cell's runtimes.
 *
 * @module
 */
import process from "node:process";
import { startRedis } from "../harness/server.ts";
import { CELLS } from "./cells/mod.ts";
import {
  quickFromEnv,
  renderCells,
  runCells,
  selectorFromEnv,
} from "./sections.ts";

const id = Deno.args[0];
const cell = CELLS.find((c) => c.id === id);
if (cell === undefined) {
  console.log(
    `${
      id === undefined ? "usage" : `no cell ${id}; usage`
    }: deno run -A bench/cell.ts <id>\n\n${
      CELLS.map((c) => `  ${c.id.padEnd(18)} ${c.section}: ${c.about}`)
        .join("\n")
    }`,
  );
  process.exit(id === undefined ? 0 : 1);
}
const external = process.env.REDIS_URL;
const server = external ? undefined : await startRedis();
try {
  const measured = await runCells([cell], {
    url: external || server!.url,
    log: (line) => console.log(`[${cell.id}] ${line}`),
    quick: quickFromEnv(),
    only: selectorFromEnv(),
  });
  const [{ targets, markdown }] = renderCells(measured);
  console.log(
    [
      "",
      ...(targets
        ? ["### Achieved against the targets", "", ...targets, ""]
        : []),
      markdown,
    ].join("\n"),
  );
} finally {
  await server?.stop();
}
