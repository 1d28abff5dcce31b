/**
 * Rendering of the inspect CLI's output: tables, the human-readable view of
 * one primitive, its JSON form, names with control characters escaped, and
 * URLs and error messages with the credentials hidden.
 *
 * @module
 */
import { type LockInfo, redactUrl } from "../mod.ts";
import { LOCK_KEY_SUFFIXES } from "../src/locks/keys.ts";

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

/** A guess from the key suffixes a primitive has. */
export function kindOf(keys: readonly string[]): string {
  if (keys.includes("meta")) return "semaphore";
  // LOCK_KEY_SUFFIXES includes "meta" too, but a primitive with a "meta" key
  // has returned "semaphore" above, so it never decides this test.
  if (keys.some((key) => LOCK_KEY_SUFFIXES.has(key))) return "mutex/semaphore";
  if (keys.includes("wake")) return "event";
  return "other";
}

/** The `--json` form of one primitive (`permits: null` when not stored). */
export function toJson(info: LockInfo): Record<string, unknown> {
  return { ...info, permits: info.permits ?? null };
}

/** The human-readable view of one primitive. */
export function describe(info: LockInfo): string {
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
