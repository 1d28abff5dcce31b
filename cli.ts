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
 * Global options: `--url <redis-url>` (default: `REDIS_URL`, else
 * `redis://127.0.0.1:6379`), `--prefix <p>` (default `redsync`), `--json`
 * (one JSON document on stdout), `--help`. Exit codes: 0 done, 1 failed
 * (connection, unknown name, declined confirmation), 2 usage error or
 * confirmation impossible. It runs on Deno, Bun and Node (only `node:`
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
import {
  connect,
  forceRelease,
  inspect,
  listPrimitives,
  type LockInfo,
  redactUrl,
  type RedisClient,
} from "./mod.ts";

/**
 * A place the CLI writes text to, such as `process.stdout`.
 *
 * @example
 * ```ts
 * import type { CliOutput } from "@redsync/core/cli";
 * const chunks: string[] = [];
 * const capture: CliOutput = { write: (text) => chunks.push(text) };
 * ```
 */
export interface CliOutput {
  /** Writes `text` as is (the CLI adds its own newlines). */
  write(text: string): unknown;
}

/**
 * Where the confirmation of `release` is read from, such as `process.stdin`:
 * chunks of text or bytes, and whether a person is typing (`isTTY`).
 *
 * @example
 * ```ts
 * import type { CliInput } from "@redsync/core/cli";
 * const typed: CliInput = {
 *   isTTY: true,
 *   async *[Symbol.asyncIterator]() {
 *     yield "nightly-report\n";
 *   },
 * };
 * ```
 */
export interface CliInput extends AsyncIterable<string | Uint8Array> {
  /** `true` when it is a terminal. */
  isTTY?: boolean;
}

/**
 * The streams and environment {@linkcode main} uses.
 *
 * @example
 * ```ts
 * import process from "node:process";
 * import type { CliIO } from "@redsync/core/cli";
 * const io: CliIO = {
 *   stdout: process.stdout,
 *   stderr: process.stderr,
 *   stdin: process.stdin,
 * };
 * ```
 */
export interface CliIO {
  /** Results (tables, or the `--json` document). */
  stdout: CliOutput;
  /** Errors and usage text. */
  stderr: CliOutput;
  /**
   * Confirmation for `release`; without it, `release` needs `--yes`.
   * @default {undefined}
   */
  stdin?: CliInput;
  /**
   * Environment variables (`REDIS_URL`).
   * @default {process.env}
   */
  env?: Record<string, string | undefined>;
}

/** The usage text, printed by `--help` and after a usage error. */
const USAGE = `Usage: redsync <command> [options]

Inspect and repair @redsync/core locks (mutexes, semaphores) in Redis.

Commands:
  list                     primitives under the prefix (SCAN, safe in production)
    --details              also holders and waiters of each (one read each)
    --limit <n>            at most n names (default 10000)
  info <name>              permits, holders (lease id, token, permits, time
                           left), waiters, queue and key TTLs of one primitive
  release <name>           force-release its leases (their holders lose them),
                           after you type the name to confirm
    --id <leaseId>         only this lease
    --yes, -y              do not ask for confirmation

Options:
  --url <redis-url>        redis://[user[:password]@]host[:port][/db] or
                           rediss://...; default: $REDIS_URL, else
                           redis://127.0.0.1:6379
  --prefix <p>             key prefix of the primitives (default "redsync")
  --json                   one JSON document on stdout instead of text
  --help, -h               this text

Exit codes: 0 done, 1 failed, 2 usage error or no way to confirm.
`;

const DEFAULT_URL = "redis://127.0.0.1:6379";
const CONNECT_TIMEOUT_MS = 5_000;
/** Concurrent `inspect` calls of `list --details` (pipelined on one socket). */
const DETAILS_BATCH = 100;
const LOCK_KEYS = new Set([
  "holders",
  "owners",
  "queue",
  "waiters",
  "wants",
  "fence",
  "grant",
]);

class UsageError extends Error {
  override name = "UsageError";
}

/** Ends a command early with `code` after printing `message` on stderr. */
class Exit extends Error {
  override name = "Exit";
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

type Command = "list" | "info" | "release";

interface Parsed {
  help: boolean;
  command?: Command;
  name?: string;
  url?: string;
  prefix: string;
  json: boolean;
  details: boolean;
  limit?: number;
  id?: string;
  yes: boolean;
}

const VALUE_OPTIONS = new Set(["--url", "--prefix", "--limit", "--id"]);
const FLAG_OPTIONS = new Set(["--json", "--details", "--yes", "--help"]);
const SHORT: Record<string, string> = { "-h": "--help", "-y": "--yes" };
/** Options that only some commands take. */
const ONLY_FOR: Record<string, Command> = {
  "--details": "list",
  "--limit": "list",
  "--id": "release",
  "--yes": "release",
};

/** Parses `args`; throws `UsageError`. Options may come anywhere. */
function parseArgs(args: readonly string[]): Parsed {
  const parsed: Parsed = {
    help: false,
    prefix: "redsync",
    json: false,
    details: false,
    yes: false,
  };
  const positional: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const option = SHORT[arg] ?? (eq >= 0 ? arg.slice(0, eq) : arg);
    if (seen.has(option)) throw new UsageError(`${option} given twice`);
    seen.add(option);
    if (FLAG_OPTIONS.has(option)) {
      if (eq >= 0) throw new UsageError(`${option} takes no value`);
      if (option === "--help") parsed.help = true;
      else if (option === "--json") parsed.json = true;
      else if (option === "--details") parsed.details = true;
      else parsed.yes = true;
      continue;
    }
    if (!VALUE_OPTIONS.has(option)) {
      throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
    }
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < args.length) value = args[++i];
    else throw new UsageError(`${option} needs a value`);
    if (option === "--url") parsed.url = value;
    else if (option === "--prefix") parsed.prefix = value;
    else if (option === "--id") {
      if (value === "") throw new UsageError("--id must not be empty");
      parsed.id = value;
    } else {
      if (!/^[1-9]\d{0,8}$/.test(value)) {
        throw new UsageError(
          `--limit must be a whole number from 1: current value is ${
            JSON.stringify(value)
          }`,
        );
      }
      parsed.limit = Number(value);
    }
  }
  if (parsed.help) return parsed;
  const [command, ...rest] = positional;
  if (command === undefined) throw new UsageError("no command given");
  if (command !== "list" && command !== "info" && command !== "release") {
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
  parsed.command = command;
  for (const option of seen) {
    const only = ONLY_FOR[option];
    if (only !== undefined && only !== command) {
      throw new UsageError(`${option} is an option of '${only}' only`);
    }
  }
  if (command === "list") {
    if (rest.length > 0) {
      throw new UsageError(`'list' takes no argument: got "${rest[0]}"`);
    }
  } else {
    if (rest.length === 0) {
      throw new UsageError(`'${command}' needs the name of a primitive`);
    }
    if (rest.length > 1) {
      throw new UsageError(
        `'${command}' takes one name: got ${rest.length} arguments`,
      );
    }
    parsed.name = rest[0];
  }
  return parsed;
}

/**
 * Runs the CLI with `args` (without the runtime and script) and resolves
 * with the exit code: 0 done, 1 failed, 2 usage error. Never rejects for a
 * user or connection error: it prints it on `io.stderr` instead.
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
  let parsed: Parsed;
  try {
    parsed = parseArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`error: ${error.message}\n\n${USAGE}`);
    return 2;
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
    err(`error: ${hideCredentials(messageOf(error), url)}\n`);
    return 1;
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
      err(`error: ${error.message}\n`);
      return error.code;
    }
    err(`error: ${messageOf(error)}\n`);
    return 1;
  } finally {
    await client.close();
  }
}

interface Context {
  client: RedisClient;
  parsed: Parsed;
  io: CliIO;
  out: (text: string) => void;
  err: (text: string) => void;
}

/**
 * Everything between `://` and the last `@` masked but the user name: what
 * `redactUrl` leaves of a password with a raw `@` or `/` in it is hidden too.
 */
function safeUrl(url: string): string {
  const start = url.indexOf("://") + 3;
  const at = url.lastIndexOf("@");
  if (start < 3 || at < start) return url;
  const userinfo = url.slice(start, at);
  const colon = userinfo.indexOf(":");
  const user = colon < 0 ? "***" : `${userinfo.slice(0, colon)}:***`;
  return url.slice(0, start) + user + url.slice(at);
}

/** `message` with every form of `url` it may quote shown as {@linkcode safeUrl}. */
function hideCredentials(message: string, url: string): string {
  const safe = safeUrl(url);
  let text = message;
  for (const form of [redactUrl(url), url]) {
    if (form !== safe) text = text.split(form).join(safe);
  }
  return text;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A guess from the key suffixes a primitive has. */
function kindOf(keys: readonly string[]): string {
  if (keys.includes("meta")) return "semaphore";
  if (keys.some((key) => LOCK_KEYS.has(key))) return "mutex/semaphore";
  if (keys.includes("wake")) return "event";
  return "other";
}

async function list(
  { client, parsed, out }: Context,
): Promise<number> {
  const { prefix, limit, details, json } = parsed;
  const found = await listPrimitives(client, { prefix, limit });
  const rows: {
    name: string;
    kind: string;
    keys: string[];
    holders?: number;
    waiters?: number;
  }[] = found.map(({ name, keys }) => ({ name, kind: kindOf(keys), keys }));
  if (details) {
    for (let i = 0; i < rows.length; i += DETAILS_BATCH) {
      const batch = rows.slice(i, i + DETAILS_BATCH);
      const infos = await Promise.all(
        batch.map((row) => inspect(client, row.name, { prefix })),
      );
      infos.forEach((info, j) => {
        batch[j].holders = info.holders.length;
        batch[j].waiters = info.waiters;
      });
    }
  }
  if (json) {
    out(
      JSON.stringify({ url: client.url, prefix, primitives: rows }, null, 2) +
        "\n",
    );
    return 0;
  }
  const where = `under prefix ${quote(prefix)} at ${client.url}`;
  if (rows.length === 0) {
    out(`No primitives ${where}\n`);
    return 0;
  }
  const header = ["NAME", "KIND", "KEYS"];
  if (details) header.push("HOLDERS", "WAITERS");
  const table = rows.map((row) => {
    const cells = [show(row.name), row.kind, row.keys.join(",")];
    if (details) cells.push(String(row.holders), String(row.waiters));
    return cells;
  });
  out(formatTable(header, table, details ? [3, 4] : []));
  out(
    `${rows.length} primitive${rows.length === 1 ? "" : "s"} ${where}${
      limit !== undefined && rows.length >= limit ? ` (--limit ${limit})` : ""
    }\n`,
  );
  return 0;
}

/** Reads the primitive; `Exit(1)` when it has no key at all. */
async function inspectExisting(
  client: RedisClient,
  name: string,
  prefix: string,
): Promise<LockInfo> {
  const info = await inspect(client, name, { prefix });
  if (Object.values(info.keyTtls).every((ttl) => ttl === -2)) {
    throw new Exit(
      1,
      `No primitive named ${quote(name)} under prefix ${
        quote(prefix)
      } at ${client.url}`,
    );
  }
  return info;
}

function toJson(info: LockInfo): Record<string, unknown> {
  return { ...info, permits: info.permits ?? null };
}

async function info({ client, parsed, out }: Context): Promise<number> {
  const { prefix, json } = parsed;
  const state = await inspectExisting(client, parsed.name!, prefix);
  if (json) {
    out(JSON.stringify(toJson(state), null, 2) + "\n");
    return 0;
  }
  out(describe(state));
  return 0;
}

/** The human-readable view of one primitive. */
function describe(info: LockInfo): string {
  const lines: string[] = [];
  const used = info.holders.reduce((sum, h) => sum + h.permits, 0);
  lines.push(`${show(info.name)} (prefix ${quote(info.prefix)})`);
  lines.push(
    info.permits === undefined
      ? "permits:  mutex / not a semaphore (no permit count stored)"
      : `permits:  ${info.permits} (semaphore), ${used} in use`,
  );
  if (info.holders.length === 0) {
    lines.push("holders:  none");
  } else {
    lines.push(`holders:  ${info.holders.length}`);
    const table = formatTable(
      ["LEASE ID", "TOKEN", "PERMITS", "REMAINING"],
      info.holders.map((h) => [
        show(h.id),
        String(h.token),
        String(h.permits),
        `${h.remainingMs} ms`,
      ]),
      [1, 2, 3],
    );
    for (const line of table.trimEnd().split("\n")) lines.push(`  ${line}`);
  }
  lines.push(`waiters:  ${info.waiters} live`);
  lines.push(`queued:   ${info.queued}`);
  lines.push("keys:");
  const width = Math.max(...Object.keys(info.keyTtls).map((k) => k.length));
  for (const [key, ttl] of Object.entries(info.keyTtls)) {
    const text = ttl === -2 ? "absent" : ttl === -1 ? "no TTL" : `${ttl} ms`;
    lines.push(`  ${key.padEnd(width)}  ${text}`);
  }
  lines.push(
    `server time: ${new Date(info.serverTime).toISOString()}`,
  );
  return lines.join("\n") + "\n";
}

async function release(context: Context): Promise<number> {
  const { client, parsed, io, out, err } = context;
  const { prefix, json, id } = parsed;
  const name = parsed.name!;
  // Interaction goes to stderr under --json, so that stdout stays one document.
  const say = json ? err : out;
  const state = await inspectExisting(client, name, prefix);
  const targets = id === undefined
    ? state.holders
    : state.holders.filter((h) => h.id === id);
  if (id !== undefined && targets.length === 0) {
    throw new Exit(
      1,
      `${quote(name)} has no live lease with id ${quote(id)}${
        state.holders.length === 0
          ? " (it has no live lease)"
          : `; its leases: ${state.holders.map((h) => show(h.id)).join(", ")}`
      }`,
    );
  }
  if (targets.length === 0) {
    if (json) {
      out(
        JSON.stringify({ name, prefix, freed: [], leases: [] }, null, 2) + "\n",
      );
    } else out(`Nothing to release: ${quote(name)} has no live lease\n`);
    return 0;
  }
  say(
    `Will force-release ${targets.length} lease${
      targets.length === 1 ? "" : "s"
    } of ${quote(name)} (prefix ${quote(prefix)}) at ${client.url}:\n`,
  );
  for (const h of targets) {
    say(
      `  lease ${
        show(h.id)
      }  token ${h.token}  permits ${h.permits}  ${h.remainingMs} ms left\n`,
    );
  }
  say(
    "Its holder loses it at its next renewal; the next waiter gets the permit.\n",
  );
  if (!parsed.yes) {
    const stdin = io.stdin;
    if (stdin === undefined) {
      throw new Exit(
        2,
        "cannot ask for confirmation here (no input): pass --yes to release without asking",
      );
    }
    say("Type the name to confirm: ");
    const answer = await readLine(stdin);
    if (answer === undefined || !stdin.isTTY) say("\n");
    if (answer === undefined) {
      throw new Exit(
        2,
        stdin.isTTY
          ? "no confirmation given: nothing was released"
          : "cannot ask for confirmation: stdin is not a terminal and gave no answer; pass --yes to release without asking",
      );
    }
    if (answer !== name) {
      throw new Exit(
        1,
        `the confirmation did not match ${quote(name)}: nothing was released`,
      );
    }
  }
  // Exactly the leases shown, not whatever holds the primitive by now.
  const freed: string[] = [];
  for (const h of targets) {
    freed.push(...await forceRelease(client, name, { id: h.id, prefix }));
  }
  const gone = targets.filter((h) => !freed.includes(h.id));
  if (json) {
    out(
      JSON.stringify(
        {
          name,
          prefix,
          freed,
          leases: targets.map((h) => ({ ...h, freed: freed.includes(h.id) })),
        },
        null,
        2,
      ) + "\n",
    );
    return 0;
  }
  out(
    `Released ${freed.length} lease${freed.length === 1 ? "" : "s"} of ${
      quote(name)
    }${freed.length > 0 ? `: ${freed.map(show).join(", ")}` : ""}\n`,
  );
  if (gone.length > 0) {
    out(
      `${gone.length} had ended or been released meanwhile: ${
        gone.map((h) => show(h.id)).join(", ")
      }\n`,
    );
  }
  return 0;
}

/** One line of `input` without its line end; `undefined` at once-empty EOF. */
async function readLine(input: CliInput): Promise<string | undefined> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of input) {
    text += typeof chunk === "string"
      ? chunk
      : decoder.decode(chunk, { stream: true });
    const end = text.indexOf("\n");
    if (end >= 0) return text.slice(0, end).replace(/\r$/, "");
  }
  text += decoder.decode();
  return text === "" ? undefined : text.replace(/\r$/, "");
}

/** Aligned columns; `right` lists the right-aligned ones. */
function formatTable(
  header: string[],
  rows: string[][],
  right: number[],
): string {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => row[i].length))
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) =>
      i === cells.length - 1 && !right.includes(i)
        ? cell
        : right.includes(i)
        ? cell.padStart(widths[i])
        : cell.padEnd(widths[i])
    ).join("  ") + "\n";
  return [header, ...rows].map(line).join("");
}

/** A name as typed, with control characters escaped (no terminal tricks). */
function show(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f-\x9f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function quote(text: string): string {
  return `'${show(text)}'`;
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
