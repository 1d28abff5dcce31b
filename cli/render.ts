/**
 * Rendering of the inspect CLI's output: tables, the human-readable view of
 * one primitive, its JSON form, names with control characters escaped, and
 * URLs and error messages with the credentials hidden.
 *
 * @module
 */
import { type LockInfo, redactUrl } from "../mod.ts";
import type { EventState, PrimitiveKind } from "../src/admin.ts";

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
export function hideCredentials(message: string, url: string): string {
  const safe = safeUrl(url);
  let text = message;
  for (const form of [redactUrl(url), url]) {
    if (form !== safe) text = text.split(form).join(safe);
  }
  return text;
}

/** The message of `error`, or `error` as a string when it is no `Error`. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The name of `error`'s class, or "Error" when it is no `Error`. */
export function nameOf(error: unknown): string {
  return error instanceof Error ? error.name : "Error";
}

/**
 * The kinds of a listed name as one word (`list`'s KIND column): joined by
 * `,` when several share the name, `unknown` when only wake lists were seen.
 */
export function kindText(kinds: readonly PrimitiveKind[]): string {
  return kinds.length === 0 ? "unknown" : kinds.join(",");
}

/** A kind as words: `read-write lock` for `read-write-lock`. */
export function kindName(kind: PrimitiveKind): string {
  return kind.replace(/-(lock|event)$/, " $1");
}

/** The `--json` form of one primitive (`permits: null` when not stored). */
export function toJson(info: LockInfo | EventState): Record<string, unknown> {
  return "holders" in info
    ? { ...info, permits: info.permits ?? null }
    : { ...info };
}

/** The human-readable view of one lock. */
export function describe(info: LockInfo): string {
  const lines: string[] = [];
  const used = info.holders.reduce((sum, h) => sum + h.permits, 0);
  lines.push(`${show(info.name)} (prefix ${quote(info.prefix)})`);
  lines.push(`kind:     ${kindName(info.kind)}`);
  lines.push(
    info.permits === undefined
      ? "permits:  mutex / not a semaphore (no permit count stored)"
      : `permits:  ${info.permits} (${kindName(info.kind)}), ${used} in use`,
  );
  if (info.holders.length === 0) {
    lines.push("holders:  none");
  } else {
    lines.push(`holders:  ${info.holders.length}`);
    // A META column only when some holder gave one (escaped, like names).
    const metas = info.holders.some((h) => h.meta !== undefined);
    const table = formatTable(
      ["LEASE ID", "TOKEN", "PERMITS", "REMAINING", ...metas ? ["META"] : []],
      info.holders.map((h) => [
        show(h.id),
        String(h.token),
        String(h.permits),
        `${h.remainingMs} ms`,
        ...metas ? [show(h.meta ?? "-")] : [],
      ]),
      [1, 2, 3],
    );
    for (const line of table.trimEnd().split("\n")) lines.push(`  ${line}`);
  }
  lines.push(`waiters:  ${info.waiters} live`);
  lines.push(`queued:   ${info.queued}`);
  return lines.join("\n") + "\n" + footer(info);
}

/** The human-readable view of one event. */
export function describeEvent(state: EventState): string {
  const lines: string[] = [];
  lines.push(`${show(state.name)} (prefix ${quote(state.prefix)})`);
  lines.push(`kind:     ${kindName(state.kind)}`);
  if (state.kind === "manual-reset-event") {
    lines.push(`set:      ${state.isSet ? "yes" : "no"}`);
  } else {
    const s = state.pending === 1 ? "" : "s";
    lines.push(`pending:  ${state.pending} signal${s}`);
    lines.push(
      `granted:  ${state.granted} (handed to a waiter, not claimed yet)`,
    );
  }
  lines.push(`waiters:  ${state.waiters} live`);
  return lines.join("\n") + "\n" + footer(state);
}

/** Key TTLs and the server time, the end of every view. */
function footer(
  { keyTtls, serverTime }: {
    keyTtls: Record<string, number>;
    serverTime: number;
  },
): string {
  const lines = ["keys:"];
  const width = Math.max(...Object.keys(keyTtls).map((k) => k.length));
  for (const [key, ttl] of Object.entries(keyTtls)) {
    const text = ttl === -2 ? "absent" : ttl === -1 ? "no TTL" : `${ttl} ms`;
    lines.push(`  ${key.padEnd(width)}  ${text}`);
  }
  lines.push(`server time: ${new Date(serverTime).toISOString()}`);
  return lines.join("\n") + "\n";
}

/** Aligned columns; `right` lists the right-aligned ones. */
export function formatTable(
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
export function show(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f-\x9f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** `text` as {@linkcode show} gives it, in single quotes. */
export function quote(text: string): string {
  return `'${show(text)}'`;
}
