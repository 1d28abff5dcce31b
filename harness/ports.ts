/**
 * Free TCP ports on 127.0.0.1 for the servers the harness starts.
 *
 * A port found free and then handed to a server a moment later can be
 * taken in between: by another test process starting servers at the same
 * time, or by a client connection's ephemeral port. `tests/run.ts` runs
 * several files at once and gives each a range of its own, below the
 * kernel's ephemeral range, in `REDSYNC_TEST_PORTS` (e.g. `20000-21999`):
 * ports are then chosen there, never twice in one process (a killed server
 * that restarts keeps its port). Without it, the kernel picks one (port 0),
 * and the callers retry a start that lost its port.
 *
 * @example
 * ```ts
 * import { freePorts } from "./ports.ts";
 *
 * const [port, busPort] = await freePorts(2);
 * ```
 *
 * @module
 */
import { type AddressInfo, createServer } from "node:net";
import process from "node:process";

const HOST = "127.0.0.1";
/** Candidates tried per port wanted before giving up on the range. */
const TRIES_PER_PORT = 50;

/** Ports this process has handed out (never twice while the range lasts). */
const handedOut = new Set<number>();

/** The range in `text` (`low-high`; `REDSYNC_TEST_PORTS` by default). */
function range(
  text = process.env.REDSYNC_TEST_PORTS,
): [number, number] | undefined {
  const match = text ? /^(\d+)-(\d+)$/.exec(text) : null;
  if (!match) return undefined;
  const [low, high] = [Number(match[1]), Number(match[2])];
  return low > 0 && low <= high && high < 65536 ? [low, high] : undefined;
}

/** Listens on `port` (0: any) and closes: the port it got, or `undefined`. */
function probe(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, HOST, () => {
      const got = (server.address() as AddressInfo).port;
      server.close(() => resolve(got));
    });
  });
}

/**
 * `count` distinct ports that were free a moment ago, from `within`
 * (`low-high`), else from `REDSYNC_TEST_PORTS`, else any.
 */
export async function freePorts(
  count: number,
  within?: string,
): Promise<number[]> {
  const ports: number[] = [];
  const bounds = range(within);
  if (bounds) {
    const [low, high] = bounds;
    const size = high - low + 1;
    if (handedOut.size + count > size) handedOut.clear(); // range used up
    for (let tries = 0; ports.length < count; tries++) {
      if (tries >= TRIES_PER_PORT * count) {
        throw new Error(
          `no free port in REDSYNC_TEST_PORTS=${low}-${high} after ${tries} tries`,
        );
      }
      const port = low + Math.floor(Math.random() * size);
      if (handedOut.has(port)) continue;
      if (await probe(port) === port) {
        handedOut.add(port);
        ports.push(port);
      }
    }
    return ports;
  }
  while (ports.length < count) {
    const port = await probe(0);
    if (port !== undefined && !ports.includes(port)) ports.push(port);
  }
  return ports;
}

/** One port: see {@linkcode freePorts}. */
export async function freePort(within?: string): Promise<number> {
  return (await freePorts(1, within))[0];
}
