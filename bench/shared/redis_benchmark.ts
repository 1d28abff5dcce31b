/**
 * `redis-benchmark`, the floor of the client and lock cells: running it,
 * its `--csv` output, and its connection arguments for a `redis://` URL.
 *
 * @module
 */
import { execFile } from "node:child_process";

const REDIS_BENCHMARK_TIMEOUT_MS = 60_000;

/** Runs `redis-benchmark` with `args`; resolves its stdout. */
export function redisBenchmark(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "redis-benchmark",
      args,
      { timeout: REDIS_BENCHMARK_TIMEOUT_MS, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(
              `redis-benchmark ${args.join(" ")} failed: ${
                String(stderr).trim() || error.message
              }`,
            ),
          );
        } else resolve(String(stdout));
      },
    );
  });
}

/** A `--csv` row: test name and its numeric columns by header name. */
export interface CsvRow {
  test: string;
  values: Map<string, number>;
}

/** Parses `redis-benchmark --csv` output (quoted fields, header first). */
export function parseBenchmarkCsv(text: string): CsvRow[] {
  const lines = text.split(/\r?\n/).filter((line) => line.startsWith('"'));
  if (lines.length < 2) {
    throw new Error(`unexpected CSV: ${text.slice(0, 200)}`);
  }
  const fields = (line: string) =>
    line.split(",").map((f) => f.replace(/^"|"$/g, ""));
  const header = fields(lines[0]);
  return lines.slice(1).map((line) => {
    const cells = fields(line);
    const values = new Map<string, number>();
    for (let i = 1; i < header.length && i < cells.length; i++) {
      values.set(header[i], Number(cells[i]));
    }
    return { test: cells[0], values };
  });
}

/** Host, port and password args of `redis-benchmark` for a `redis://` URL. */
export function connectionArgs(url: string): string[] {
  const parsed = new URL(url);
  if (parsed.protocol !== "redis:") {
    throw new Error(
      `redis-benchmark needs a redis:// URL, not ${parsed.protocol}`,
    );
  }
  const args = [
    "-h",
    parsed.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    "-p",
    parsed.port || "6379",
  ];
  if (parsed.password) {
    args.push("-a", decodeURIComponent(parsed.password));
    if (parsed.username) {
      args.push("--user", decodeURIComponent(parsed.username));
    }
  }
  const db = parsed.pathname.replace(/^\//, "");
  if (db !== "") args.push("--dbnum", db);
  return args;
}
