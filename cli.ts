/**
 * The inspect CLI: look at the locks under a prefix, one lock's holders and
 * waiters, and free a stuck lease by force (after typing its name).
 *
 * ```sh
 * deno run -A jsr:@redsync/core/cli list --details
 * deno run -A jsr:@redsync/core/cli info partner-api
 * deno run -A jsr:@redsync/core/cli release nightly-report
 * ```
 *
 * Global options: `--url <redis-url>` (`redis://`, `rediss://`,
 * `redis+sentinel://` or `redis+cluster://`, as `connect()` takes it; on a
 * cluster, `list` scans every primary; default: `REDIS_URL`, else
 * `redis://127.0.0.1:6379`), `--prefix <p>` (default `redsync`), `--json`
 * (one JSON document on stdout: the result, or `{"error": {"name",
 * "message"}}`), `--help`. Exit codes: 0 done, 1 failed (connection,
 * unknown name, declined confirmation), 2 usage error or confirmation
 * impossible. It runs on Deno, Bun and Node (only `node:`
 * modules), and the same logic is callable in-process: {@linkcode main}.
 *
 * @example Run it from code, capturing the output
 * ```ts
 * import { main } from "@redsync/core/cli";
 * let out = "";
 * const code = await main(["list", "--json"], {
 *   stdout: { write: (text: string) => out += text },
 *   stderr: { write: (text: string) => console.error(text) },
 * });
 * if (code === 0) console.log(JSON.parse(out).primitives);
 * ```
 *
 * @module
 */
import process from "node:process";
import { connect, type RedisClient } from "./mod.ts";
import {
  parseArgs,
  type Parsed,
  USAGE,
  UsageError,
  wantsJson,
} from "./cli/args.ts";
import { type Context, Exit, info, list, release } from "./cli/commands.ts";
import { hideCredentials, messageOf, nameOf } from "./cli/render.ts";
import type { CliIO } from "./cli/io.ts";

export type { CliInput, CliIO, CliOutput } from "./cli/io.ts";

const DEFAULT_URL = "redis://127.0.0.1:6379";
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * Runs the CLI with `args` (without the runtime and script) and resolves
 * with the exit code: 0 done, 1 failed, 2 usage error. Never rejects for a
 * user or connection error: it prints it on `io.stderr` instead (with
 * `--json`, as `{"error": {"name", "message"}}` on `io.stdout`, which
 * then holds one JSON document whatever happens).
 *
 * @example
 * ```ts
 * import process from "node:process";
 * import { main } from "@redsync/core/cli";
 * const code = await main(["info", "nightly-report", "--url", "redis://127.0.0.1:6379"], {
 *   stdout: process.stdout,
 *   stderr: process.stderr,
 *   stdin: process.stdin,
 * });
 * process.exitCode = code;
 * ```
 */
export async function main(args: string[], io: CliIO): Promise<number> {
  const out = (text: string) => void io.stdout.write(text);
  const err = (text: string) => void io.stderr.write(text);
  const json = wantsJson(args);
  /** Prints an error (as text, or as JSON with `--json`); resolves `code`. */
  const fail = (name: string, message: string, code: number) => {
    if (json) out(JSON.stringify({ error: { name, message } }) + "\n");
    else err(`error: ${message}\n${name === "UsageError" ? `\n${USAGE}` : ""}`);
    return code;
  };
  let parsed: Parsed;
  try {
    parsed = parseArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return fail(error.name, error.message, 2);
  }
  if (parsed.help) {
    out(USAGE);
    return 0;
  }
  const env = io.env ?? process.env;
  const url = parsed.url ?? (env.REDIS_URL || DEFAULT_URL);
  let client: RedisClient;
  try {
    client = await connect({
      url,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      reconnect: false,
    });
  } catch (error) {
    return fail(nameOf(error), hideCredentials(messageOf(error), url), 1);
  }
  try {
    const context: Context = { client, parsed, io, out, err };
    switch (parsed.command) {
      case "list":
        return await list(context);
      case "info":
        return await info(context);
      default:
        return await release(context);
    }
  } catch (error) {
    if (error instanceof Exit) {
      return fail(error.errorName, error.message, error.code);
    }
    return fail(nameOf(error), messageOf(error), 1);
  } finally {
    await client.close();
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
  });
  // Flush before exiting: stdout may be a pipe.
  await new Promise((resolve) => process.stdout.write("", resolve));
  await new Promise((resolve) => process.stderr.write("", resolve));
  process.exit(code);
}
