/**
 * The one server's options: its address (`hostname`, `port`), validated
 * before any network call, and the `redis://` and `rediss://` URL form,
 * parsed into options and shown without its password.
 *
 * @module
 */
import { checkInteger } from "../../_internal/validate.ts";
import type { Target } from "../../client/target.ts";

/** What a `redis://` URL sets. */
export interface UrlOptions {
  hostname?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  clientName?: string;
  tls?: boolean;
}

/**
 * A bare address (`host`, `host:port`, `user:pw@host:port/db`): a URL
 * without its scheme.
 */
const NO_SCHEME =
  /^(?:[^@/\s]*@)?(?:\[[0-9a-f:.]+\]|[\w.-]+)(?::\d*)?(?:\/\d*)?$/i;

/**
 * Parses `redis://` and `rediss://` URLs; errors never echo the password.
 * The database is the path (`/2`) or the `db` parameter (`?db=2`); both
 * may be given only if they agree.
 */
export function parseUrl(url: string): UrlOptions {
  if (typeof url !== "string") {
    throw new TypeError(
      `Cannot connect as 'url' must be a string: current type is ${typeof url}`,
    );
  }
  // A raw "/", "?" or "#" in the user info ends it early for a URL parser:
  // part of the password would become the host, the port or the path, and
  // could appear in a message. Such URLs are refused, showing nothing.
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? "";
  const at = url.lastIndexOf("@");
  if (
    scheme && at > scheme.length && /[/?#]/.test(url.slice(scheme.length, at))
  ) {
    throw new TypeError(
      "Cannot connect as 'url' has a raw '/', '?' or '#' in its user name or password: percent-encode them (%2F, %3F, %23); the URL is not shown",
    );
  }
  const shown = JSON.stringify(redactUrl(url));
  if (/^rediss?:(?!\/\/)/i.test(url)) {
    throw new TypeError(
      `Cannot connect as 'url' looks malformed: expected redis://host:port/db (rediss:// for TLS), with two slashes after the scheme: current value is ${shown}`,
    );
  }
  if (!url.includes("://") && NO_SCHEME.test(url)) {
    throw new TypeError(
      `Cannot connect as 'url' has no scheme: use ${
        JSON.stringify(`redis://${redactUrl(url)}`)
      } (rediss:// for TLS): current value is ${shown}`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(
      `Cannot connect as 'url' is not a valid URL: current value is ${
        JSON.stringify(redactUrl(url))
      }`,
    );
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new TypeError(
      `Cannot connect as 'url' must start with redis:// or rediss://: current value is ${
        JSON.stringify(redactUrl(url))
      }`,
    );
  }
  const options: UrlOptions = {};
  if (parsed.hostname) {
    options.hostname = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  }
  if (parsed.port) options.port = Number(parsed.port);
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  const path = parsed.pathname.replace(/^\//, "");
  if (path) {
    if (!/^\d+$/.test(path)) {
      throw new TypeError(
        `Cannot connect as the URL path must be a database number: current value is ${
          JSON.stringify(path)
        }`,
      );
    }
    options.db = Number(path);
  }
  const db = parsed.searchParams.get("db");
  if (db !== null) {
    if (!/^\d+$/.test(db)) {
      throw new TypeError(
        `Cannot connect as the URL's 'db' parameter must be a database number: current value is ${
          JSON.stringify(db)
        }`,
      );
    }
    if (options.db !== undefined && options.db !== Number(db)) {
      throw new TypeError(
        `Cannot connect as the URL path selects database ${options.db} and its 'db' parameter database ${db}: give one`,
      );
    }
    options.db = Number(db);
  }
  const name = parsed.searchParams.get("clientName") ??
    parsed.searchParams.get("name");
  if (name) options.clientName = name;
  if (parsed.protocol === "rediss:") options.tls = true;
  return options;
}

/**
 * Replaces the password of a `redis://` URL by `***`, for messages and logs.
 *
 * @example
 * ```ts
 * import { redactUrl } from "@redsync/core";
 * console.log(redactUrl("redis://app:s3cret@db:6379/2")); // redis://app:***@db:6379/2
 * ```
 */
export function redactUrl(url: string): string {
  // Everything up to the last "@" is user info, whatever it contains (a raw
  // "@" or "/" in a password makes the URL invalid, but must not leak).
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? "";
  const rest = url.slice(scheme.length);
  const at = rest.lastIndexOf("@");
  if (at === -1) return url;
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(":");
  const shown = colon === -1 ? "***" : `${userinfo.slice(0, colon)}:***`;
  return `${scheme}${shown}${rest.slice(at)}`;
}

/**
 * The server's address: `hostname` (a non-empty string, `127.0.0.1` by
 * default) and `port` (6379 by default), validated.
 */
export function resolveAddress(
  hostname: unknown = "127.0.0.1",
  port: unknown = 6379,
): Target {
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(
      `Cannot connect as 'hostname' must be a non-empty string: current value is ${
        JSON.stringify(hostname)
      }`,
    );
  }
  return { hostname, port: checkInteger("connect", "port", port, 1, 65535) };
}

/** How a one-server client is shown in messages (no credentials). */
export function singleDisplay(
  { hostname, port }: Target,
  tls: boolean,
  db: number,
): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `${tls ? "rediss" : "redis"}://${host}:${port}${db ? `/${db}` : ""}`;
}
