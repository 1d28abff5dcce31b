/**
 * `exclusive()` on a cluster: the connection is lent by the node that owns
 * the key of the first command sent (`WATCH key`, or the first command of
 * `MULTI`), and kept for every later command of the same call.
 *
 * @module
 */
import type { Connection } from "../../client/connection.ts";
import type { ServerNode } from "../../client/server_node.ts";
import type { ExclusiveSend } from "../../client/topology.ts";
import type { RedisArg } from "../../resp/types.ts";

/** Runs `fn` with a connection of the node `ownerOf` names for its first command. */
export async function lendFirstKeyNode<T>(
  ownerOf: (args: readonly RedisArg[]) => Promise<ServerNode>,
  fn: (send: ExclusiveSend) => Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  let bound: Promise<Connection> | undefined;
  let finish!: (error?: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = (error) => error === undefined ? resolve() : reject(error);
  });
  done.catch(() => {});
  let lending: Promise<unknown> | undefined;
  const send: ExclusiveSend = async (...args) => {
    bound ??= ownerOf(args).then((server) =>
      new Promise<Connection>((resolve, reject) => {
        // The node's pool closes the connection if `done` rejects (fn threw).
        lending = server.exclusive((connection) => {
          resolve(connection);
          return done;
        }, signal).catch(reject);
      })
    );
    return await (await bound).request(args);
  };
  try {
    const result = await fn(send);
    finish();
    return result;
  } catch (error) {
    finish(error ?? new Error("exclusive() failed"));
    throw error;
  } finally {
    await lending?.catch(() => {});
  }
}
