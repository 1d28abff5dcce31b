/**
 * The cluster's answers that send a command elsewhere or later: `MOVED`,
 * `ASK`, `TRYAGAIN`, `CLUSTERDOWN`. Each means the command did not run, so
 * following it is always safe.
 *
 * @module
 */
import { RedisReplyError } from "../../errors.ts";
import type { Target } from "../../client/target.ts";

/** What a redirecting error asks for. */
export type Redirect =
  | { kind: "MOVED" | "ASK"; slot: number; to: Target }
  | { kind: "TRYAGAIN" | "CLUSTERDOWN" };

/**
 * The redirect `error` carries, or `undefined` for any other error.
 * `answeredBy`: the node that answered (an empty host means its host).
 */
export function redirectOf(
  error: unknown,
  answeredBy: Target,
): Redirect | undefined {
  if (!(error instanceof RedisReplyError)) return undefined;
  const code = error.code;
  if (code === "TRYAGAIN" || code === "CLUSTERDOWN") return { kind: code };
  if (code !== "MOVED" && code !== "ASK") return undefined;
  // "MOVED 3999 127.0.0.1:6381", "ASK 3999 :6381" (host unknown to it).
  const [, slot, address] = error.message.split(" ");
  const colon = address?.lastIndexOf(":") ?? -1;
  const port = Number(address?.slice(colon + 1));
  if (colon === -1 || !Number.isInteger(port) || !/^\d+$/.test(slot)) {
    return undefined;
  }
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return {
    kind: code,
    slot: Number(slot),
    to: { hostname: host || answeredBy.hostname, port },
  };
}

/** `host:port` of a target, the key of the client's node table. */
export function addressOf(target: Target): string {
  return target.hostname.includes(":")
    ? `[${target.hostname}]:${target.port}`
    : `${target.hostname}:${target.port}`;
}
