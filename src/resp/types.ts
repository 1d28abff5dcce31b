/**
 * Types shared by the RESP encoder (`encoder.ts`), the decoder (`decoder.ts`)
 * and the client: what a command argument may be, what a decoded reply looks
 * like, and the callbacks through which the decoder hands replies over.
 *
 * @example
 * ```ts
 * import type { RedisArg, RedisReply } from "./types.ts";
 * const args: RedisArg[] = ["GET", "k"];
 * const reply: RedisReply = "OK";
 * console.log(args.length, reply);
 * ```
 *
 * @module
 */

import type { RedisReplyError } from "../errors.ts";

/**
 * One argument of a command: strings are sent as UTF-8, numbers and bigints
 * in decimal, byte arrays as they are.
 *
 * @example
 * ```ts
 * import type { RedisArg } from "./types.ts";
 * const args: RedisArg[] = ["SET", "k", new Uint8Array([1, 2]), "PX", 1000];
 * ```
 */
export type RedisArg = string | number | bigint | Uint8Array;

/**
 * A decoded reply. Error replies are {@linkcode RedisReplyError} values (not
 * thrown), RESP3 maps are `Map`s and sets are `Set`s; integers that do not fit
 * in a safe JavaScript number, and RESP3 big numbers, are `bigint`s.
 *
 * @example
 * ```ts
 * import type { RedisReply } from "./types.ts";
 * function isOk(reply: RedisReply): boolean {
 *   return reply === "OK";
 * }
 * ```
 */
export type RedisReply =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | RedisReplyError
  | RedisReply[]
  | Map<RedisReply, RedisReply>
  | Set<RedisReply>;

/**
 * Callbacks of a `RespDecoder` (in `decoder.ts`).
 *
 * @example
 * ```ts
 * import type { DecoderHandlers } from "./types.ts";
 * const handlers: DecoderHandlers = {
 *   onReply: (reply) => console.log("reply", reply),
 *   onPush: (push) => console.log("push", push),
 *   bytesForNext: () => false,
 * };
 * ```
 */
export interface DecoderHandlers {
  /**
   * A complete top-level reply (including top-level error replies, which
   * arrive as {@linkcode RedisReplyError} values: the client decides to
   * reject).
   */
  onReply(reply: RedisReply): void;
  /**
   * A RESP3 push message (`>` type), e.g. pub/sub or client-tracking
   * invalidation. Push messages are dropped when this is absent.
   */
  onPush?(push: RedisReply[]): void;
  /**
   * Asked once before decoding each top-level reply (not before push
   * messages, nor before attributes): `true` means bulk, verbatim and simple
   * strings of that reply come back as `Uint8Array` instead of `string`.
   * Absent means always `false`.
   */
  bytesForNext?(): boolean;
}
