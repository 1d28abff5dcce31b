/**
 * The handshake of a new connection: `HELLO 3` with `AUTH` and `SETNAME`
 * (RESP2 with `AUTH`/`CLIENT SETNAME` where the server has no HELLO, after
 * checking it is Redis 5.0 or later), `SELECT`, `CLIENT ID` when asked, and
 * `ROLE` when only a primary will do (Sentinel). A server's reply to a
 * command that carried credentials is never quoted.
 *
 * @module
 */
import { ConnectionError, RedisReplyError } from "../errors.ts";
import type { RedisArg, RedisReply } from "../resp/types.ts";
import type { ResolvedOptions } from "./options.ts";

/** The oldest Redis major version the library works with. */
const MIN_REDIS_MAJOR = 5;

/** Fixed texts for the codes a refused authentication answers with. */
const AUTH_CODES: Record<string, string> = {
  WRONGPASS: "invalid username-password pair or user is disabled",
  NOPERM: "this user has no permission to run the handshake",
  NOAUTH: "authentication required",
};

/** Runs the handshake through `request`; resolves what it learned. */
export async function runHandshake(
  request: (args: readonly RedisArg[]) => Promise<RedisReply>,
  options: ResolvedOptions,
  wantId: boolean,
): Promise<
  { protocol: 2 | 3; id: number | undefined; major: number | undefined }
> {
  const { protocol, username, password, clientName, db } = options;
  let protocol3 = false;
  let clientId: number | undefined;
  let helloDone = false;
  if (protocol !== 2) {
    const hello: RedisArg[] = ["HELLO", "3"];
    if (password !== undefined) {
      hello.push("AUTH", username ?? "default", password);
    }
    if (clientName !== undefined) hello.push("SETNAME", clientName);
    try {
      await request(hello);
      protocol3 = true;
      helloDone = true;
    } catch (error) {
      if (error instanceof RedisReplyError && error.code === "NOAUTH") {
        throw new ConnectionError(
          `Cannot connect to ${options.display}: the server requires a password (NOAUTH)`,
          { cause: error },
        );
      }
      // Redis < 6 has no HELLO; an ACL user may not be allowed to run it.
      const old = error instanceof RedisReplyError &&
        (error.code === "NOPROTO" || error.code === "NOPERM" ||
          /unknown command/i.test(error.message));
      if (!old || protocol === 3) {
        throw authFailure(options, error, password !== undefined);
      }
    }
  }
  const setup: Promise<RedisReply>[] = [];
  if (!helloDone) {
    if (password !== undefined) {
      setup.push(
        request(
          username === undefined
            ? ["AUTH", password]
            : ["AUTH", username, password],
        ).catch((error) => {
          throw authFailure(options, error, true);
        }),
      );
    }
    if (clientName !== undefined) {
      setup.push(request(["CLIENT", "SETNAME", clientName]));
    }
  }
  if (db !== 0) setup.push(request(["SELECT", db]));
  // HELLO answered: Redis 6 or later. Else it may be older: ask.
  const info = helloDone ? undefined : request(["INFO", "server"]);
  const id = wantId ? request(["CLIENT", "ID"]) : undefined;
  // Following a failover: only the primary will do.
  const role = options.target.primaryOnly ? request(["ROLE"]) : undefined;
  try {
    await Promise.all(setup);
  } catch (error) {
    role?.catch(() => {});
    id?.catch(() => {});
    info?.catch(() => {});
    throw authFailure(options, error);
  }
  const major = info
    ? checkVersion(options, await info.catch(() => undefined))
    : undefined;
  if (role) {
    const reply = await role;
    const kind = Array.isArray(reply) ? String(reply[0]) : String(reply);
    if (kind !== "master") {
      throw new ConnectionError(
        `Cannot connect to ${options.display}: the server named as the primary is a ${kind} (a failover is under way)`,
      );
    }
  }
  if (id) {
    try {
      clientId = await id as number;
    } catch (error) {
      // Without the permission, aborts fall back to closing the socket.
      if (!(error instanceof RedisReplyError)) throw error;
    }
  }
  return { protocol: protocol3 ? 3 : 2, id: clientId, major };
}

/**
 * Refuses a server older than Redis 5.0 (`CLIENT UNBLOCK`, scripts that
 * replicate their effects). A reply that does not say (`INFO` renamed or
 * not permitted) is let through. Returns the major version, if known.
 */
function checkVersion(
  options: ResolvedOptions,
  reply: RedisReply | undefined,
): number | undefined {
  const text = typeof reply === "string"
    ? reply
    : reply instanceof Uint8Array
    ? new TextDecoder().decode(reply)
    : "";
  const match = /redis_version:(\d+)\.(\d+)\.?(\d*)/.exec(text);
  if (!match) return undefined;
  if (Number(match[1]) >= MIN_REDIS_MAJOR) return Number(match[1]);
  throw new ConnectionError(
    `Cannot connect to ${options.display}: Redis ${MIN_REDIS_MAJOR}.0 or later is required (Lua scripts that replicate their effects, CLIENT UNBLOCK), and this server runs ${
      match[0].slice("redis_version:".length)
    }`,
  );
}

/**
 * The error for a refused handshake. A reply to a command that carried
 * credentials is never quoted (nor kept as the cause): a server that does
 * not know the command echoes its arguments, the password among them.
 * Only its error code is kept, with a fixed explanation.
 */
function authFailure(
  options: ResolvedOptions,
  error: unknown,
  credentials = false,
): unknown {
  if (!(error instanceof RedisReplyError)) return error;
  const where = `Cannot connect to ${options.display}`;
  if (!credentials) {
    return new ConnectionError(
      `${where}: the server refused the handshake: ${error.message}`,
      { cause: error },
    );
  }
  const why = AUTH_CODES[error.code] ??
    "(the server's reply is not shown: it may repeat the credentials)";
  return new ConnectionError(
    `${where}: the server refused the credentials: ${error.code} ${why}`,
  );
}
