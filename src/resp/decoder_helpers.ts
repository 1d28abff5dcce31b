/**
 * Internals of the RESP decoder (`RespDecoder` in `decoder.ts`):
 * the frames of aggregates being filled and the parsers of header lines and
 * scalar values. Not part of the public API.
 *
 * @example Parse an integer header
 * ```ts
 * import { parseInteger } from "./decoder_helpers.ts";
 * const line = new TextEncoder().encode(":-42");
 * console.log(parseInteger(line, 1, line.length)); // -42
 * ```
 *
 * @module
 */

import { RespProtocolError } from "../errors.ts";
import type { RedisReply } from "./types.ts";

/** Carriage return, the first byte of a RESP line ending. */
export const CR = 13;
/** Line feed, the second byte of a RESP line ending. */
export const LF = 10;

/** Frame kind of a RESP array (`*`). */
export const K_ARRAY = 0;
/** Frame kind of a RESP3 map (`%`). */
export const K_MAP = 1;
/** Frame kind of a RESP3 set (`~`). */
export const K_SET = 2;
/** Frame kind of a RESP3 push message (`>`). */
export const K_PUSH = 3;
/** Frame kind of a RESP3 attribute (`|`). */
export const K_ATTR = 4;

/** An aggregate being filled. */
export class Frame {
  /** One of the `K_*` kinds. */
  kind: number;
  /** Elements still to come (keys and values count apart). */
  remaining: number;
  /** Elements received so far. */
  items: RedisReply[];
  /** Builds an empty frame expecting `remaining` elements. */
  constructor(kind: number, remaining: number) {
    this.kind = kind;
    this.remaining = remaining;
    this.items = [];
  }
}

/** Returned by `close()` when the aggregate yields no value to its parent. */
export const NONE: unique symbol = Symbol("none");

const MAX_LENGTH = 0xffffffff;
const SHORT_DECODE = 32;
const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Decodes `b[start, end)` as UTF-8, with a fast path for short ASCII. */
export function utf8(b: Uint8Array, start: number, end: number): string {
  if (end - start < SHORT_DECODE) {
    let s = "";
    for (let i = start; i < end; i++) {
      const c = b[i];
      if (c >= 0x80) return textDecoder.decode(b.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return textDecoder.decode(b.subarray(start, end));
}

/** Parses a length: digits, or `-1`. Returns NaN when malformed. */
export function parseLength(b: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n === 0 || n > 10) return NaN;
  if (b[start] === 45) {
    return n === 2 && b[start + 1] === 49 ? -1 : NaN;
  }
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = b[i] - 48;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return v > MAX_LENGTH ? NaN : v;
}

/** Builds the {@linkcode RespProtocolError} for malformed input. */
export function protocolError(message: string): RespProtocolError {
  return new RespProtocolError(`Invalid RESP reply: ${message}`);
}

/**
 * Parses a RESP integer; values outside the safe integer range are `bigint`s.
 *
 * @throws {RespProtocolError} when malformed.
 */
export function parseInteger(
  b: Uint8Array,
  start: number,
  end: number,
): number | bigint {
  let i = start;
  let neg = false;
  if (b[i] === 45) {
    neg = true;
    i++;
  } else if (b[i] === 43) i++;
  if (i === end) throw protocolError("empty integer");
  if (end - i <= 15) {
    let v = 0;
    for (; i < end; i++) {
      const c = b[i] - 48;
      if (c < 0 || c > 9) throw protocolError("bad integer");
      v = v * 10 + c;
    }
    return neg ? 0 - v : v;
  }
  const big = parseBig(b, start, end);
  const n = Number(big);
  return Number.isSafeInteger(n) ? n : big;
}

/**
 * Parses a RESP3 big number.
 *
 * @throws {RespProtocolError} when malformed.
 */
export function parseBig(b: Uint8Array, start: number, end: number): bigint {
  const s = utf8(b, start, end);
  if (!/^[+-]?\d+$/.test(s)) throw protocolError(`bad big number "${s}"`);
  return BigInt(s);
}

/**
 * Parses a RESP3 double, including `inf`, `-inf` and `nan`.
 *
 * @throws {RespProtocolError} when malformed.
 */
export function parseDouble(b: Uint8Array, start: number, end: number): number {
  const s = utf8(b, start, end).toLowerCase();
  switch (s) {
    case "inf":
    case "+inf":
      return Infinity;
    case "-inf":
      return -Infinity;
    case "nan":
    case "-nan":
    case "+nan":
      return NaN;
  }
  const v = s.length === 0 ? NaN : Number(s);
  if (Number.isNaN(v)) throw protocolError(`bad double "${s}"`);
  return v;
}
