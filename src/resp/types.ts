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

/**
 * What a server may make a `RespDecoder` hold. Input beyond a limit makes the
 * decoder throw a `RespProtocolError`, as malformed input does. Integer lines
 * (`:`) are limited to 40 bytes and length headers to 20, whatever these say.
 *
 * @example
 * ```ts
 * import type { RespLimits } from "./types.ts";
 * const limits: RespLimits = { maxBulkBytes: 16 * 1024 * 1024, maxDepth: 64 };
 * ```
 */
export interface RespLimits {
  /**
   * Longest bulk string, verbatim string or bulk error, in bytes. Its memory
   * is taken as its bytes arrive, never on the length header's word alone.
   * @default {536870912}
   */
  maxBulkBytes?: number;
  /**
   * Longest simple string, simple error, double or big number line, in bytes
   * (type byte and CRLF not counted).
   * @default {65536}
   */
  maxLineBytes?: number;
  /**
   * Most elements an aggregate may announce (pairs for maps and attributes).
   * Maps and sets are also held to 2^24 entries, a JavaScript engine limit.
   * @default {16777216}
   */
  maxAggregateLength?: number;
  /**
   * Deepest nesting of aggregates (arrays, maps, sets, pushes, attributes).
   * @default {1000}
   */
  maxDepth?: number;
}
