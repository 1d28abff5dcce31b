/**
 * Argument parsing of the inspect CLI: the usage text, the options and
 * commands it accepts, and {@linkcode parseArgs}.
 *
 * @module
 */

/** The usage text, printed by `--help` and after a usage error. */
export const USAGE: string = `Usage: redsync <command> [options]

Inspect @redsync/core primitives in Redis (mutexes, semaphores, read-write
locks, manual-reset and auto-reset events) and repair stuck locks.

Commands:
  list                     primitives under the prefix and their kinds (SCAN,
                           safe in production)
    --details              also holders and waiters of each (one read each)
    --limit <n>            at most n names (default 10000)
  info <name>              a lock's kind, permits, holders (lease id, token,
                           permits, time left), waiters, queue and key TTLs;
                           an event's state (set, pending signals), waiters
                           and key TTLs
  release <name>           force-release its leases (their holders lose them),
                           after you type the name to confirm
    --id <leaseId>         only this lease
    --yes, -y              do not ask for confirmation

Options:
  --url <redis-url>        redis://[user[:password]@]host[:port][/db],
                           rediss://..., redis+sentinel://h:p[,h:p...]/name
                           or redis+cluster://h:p[,h:p...] (every primary
                           is scanned by list); default: $REDIS_URL, else
                           redis://127.0.0.1:6379
  --prefix <p>             key prefix of the primitives (default "redsync")
  --json                   one JSON document on stdout instead of text; an
                           error too: {"error": {"name", "message"}}
  --help, -h               this text

Exit codes: 0 done, 1 failed, 2 usage error or no way to confirm.
`;

/** A command line that does not parse; `main` prints it with the usage. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The commands of the CLI. */
export type Command = "list" | "info" | "release";

/** A parsed command line. */
export interface Parsed {
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
export function parseArgs(args: readonly string[]): Parsed {
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
 * Whether `args` ask for `--json`, read as {@linkcode parseArgs} reads them
 * (a value option's value is not an option; `--` ends the options), even
 * when they do not parse: a usage error is then printed as JSON too.
 */
export function wantsJson(args: readonly string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") return false;
    if (arg === "--json") return true;
    if (VALUE_OPTIONS.has(arg)) i++;
  }
  return false;
}
