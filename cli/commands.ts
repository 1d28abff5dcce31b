/**
 * The commands of the inspect CLI: `list`, `info` and `release`, each given
 * a connected client and the parsed command line, resolving with the exit
 * code or throwing {@linkcode Exit}.
 *
 * @module
 */
import type { LockInfo, RedisClient } from "../mod.ts";
import {
  type EventKind,
  type EventState,
  forceRelease,
  inspect,
  inspectEvent,
  listPrimitives,
  type PrimitiveKind,
} from "../src/admin.ts";
import type { CliInput, CliIO } from "./io.ts";
import type { Parsed } from "./args.ts";
import {
  describe,
  describeEvent,
  formatTable,
  kindName,
  kindText,
  quote,
  show,
  toJson,
} from "./render.ts";

/** Concurrent `inspect` calls of `list --details` (pipelined on one socket). */
const DETAILS_BATCH = 100;

/**
 * Ends a command early with `code` after printing `message` on stderr
 * (with `--json`: `{"error": {"name": errorName, "message"}}` on stdout).
 */
export class Exit extends Error {
  override name = "Exit";
  constructor(
    readonly code: number,
    message: string,
    readonly errorName:
      | "NotFoundError"
      | "ConfirmationError"
      | "NotALockError" = "NotFoundError",
  ) {
    super(message);
  }
}

const EVENT_KINDS: readonly EventKind[] = [
  "manual-reset-event",
  "auto-reset-event",
];

function isEvent(kind: PrimitiveKind): kind is EventKind {
  return (EVENT_KINDS as readonly string[]).includes(kind);
}

/** Whether any of the primitive's keys exists. */
function exists(state: { keyTtls: Record<string, number> }): boolean {
  return Object.values(state.keyTtls).some((ttl) => ttl !== -2);
}

/** What a command runs with. */
export interface Context {
  client: RedisClient;
  parsed: Parsed;
  io: CliIO;
  out: (text: string) => void;
  err: (text: string) => void;
}

/** `list`: the primitives under the prefix, as a table or JSON. */
export async function list(
  { client, parsed, out }: Context,
): Promise<number> {
  const { prefix, limit, details, json } = parsed;
  const found = await listPrimitives(client, { prefix, limit });
  const rows: {
    name: string;
    kind: string;
    kinds: PrimitiveKind[];
    keys: string[];
    holders?: number | null;
    waiters?: number;
  }[] = found.map(({ name, kinds, keys }) => ({
    name,
    kind: kindText(kinds),
    kinds,
    keys,
  }));
  if (details) {
    // Holders: a lock's (null for an event alone); waiters: all of them.
    const detailsOf = async (kinds: PrimitiveKind[], name: string) => {
      const states = await Promise.all(
        kinds.map((kind) =>
          isEvent(kind)
            ? inspectEvent(client, name, kind, { prefix })
            : inspect(client, name, { prefix })
        ),
      );
      let holders: number | null = null;
      let waiters = 0;
      for (const state of states) {
        if ("holders" in state) holders = state.holders.length;
        waiters += state.waiters;
      }
      return { holders, waiters };
    };
    for (let i = 0; i < rows.length; i += DETAILS_BATCH) {
      const batch = rows.slice(i, i + DETAILS_BATCH);
      const infos = await Promise.all(
        batch.map((row) => detailsOf(row.kinds, row.name)),
      );
      infos.forEach(({ holders, waiters }, j) => {
        batch[j].holders = holders;
        batch[j].waiters = waiters;
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
    if (details) cells.push(String(row.holders ?? "-"), String(row.waiters));
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

/**
 * The state of every primitive named `name` (a lock, an event, or both:
 * they do not share keys), read at once; `Exit(1)` when none has a key.
 */
async function inspectAll(
  client: RedisClient,
  name: string,
  prefix: string,
): Promise<(LockInfo | EventState)[]> {
  const states = await Promise.all([
    inspect(client, name, { prefix }),
    ...EVENT_KINDS.map((kind) => inspectEvent(client, name, kind, { prefix })),
  ]);
  const found = states.filter(exists);
  if (found.length === 0) {
    throw new Exit(
      1,
      `No primitive named ${quote(name)} under prefix ${
        quote(prefix)
      } at ${client.url}`,
    );
  }
  return found;
}

/** Reads the lock; `Exit(1)` when there is none of that name. */
async function inspectExisting(
  client: RedisClient,
  name: string,
  prefix: string,
): Promise<LockInfo> {
  const [first] = await inspectAll(client, name, prefix);
  if (!("holders" in first)) {
    throw new Exit(
      1,
      `${quote(name)} is a ${
        kindName(first.kind)
      }: only locks (mutex, semaphore, read-write lock) have leases to release`,
      "NotALockError",
    );
  }
  return first;
}

/**
 * `info <name>`: one primitive's state, as text or JSON (when a lock and
 * an event share the name: both, the JSON as `{name, prefix, kinds,
 * primitives}`).
 */
export async function info({ client, parsed, out }: Context): Promise<number> {
  const { prefix, json } = parsed;
  const name = parsed.name!;
  const states = await inspectAll(client, name, prefix);
  if (json) {
    const doc = states.length === 1 ? toJson(states[0]) : {
      name,
      prefix,
      kinds: states.map((state) => state.kind),
      primitives: states.map(toJson),
    };
    out(JSON.stringify(doc, null, 2) + "\n");
    return 0;
  }
  out(
    states.map((state) =>
      "holders" in state ? describe(state) : describeEvent(state)
    ).join("\n"),
  );
  return 0;
}

/** `release <name>`: force-releases its leases, after confirmation. */
export async function release(context: Context): Promise<number> {
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
        "ConfirmationError",
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
        "ConfirmationError",
      );
    }
    if (answer !== name) {
      throw new Exit(
        1,
        `the confirmation did not match ${quote(name)}: nothing was released`,
        "ConfirmationError",
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
