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

import { RedisReplyError, RespProtocolError } from "../errors.ts";
import type { RedisReply, RespLimits } from "./types.ts";

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
/** Most bytes of a bad line quoted in an error message. */
const QUOTE_BYTES = 100;

/** The limits a decoder applies when none are given. */
const DEFAULT_LIMITS: Readonly<Required<RespLimits>> = Object.freeze({
  maxBulkBytes: 512 * 1024 * 1024,
  maxLineBytes: 64 * 1024,
  maxAggregateLength: 2 ** 24,
  maxDepth: 1000,
});

/** Longest integer line (`:`) after its type byte: a sign and 39 digits. */
const MAX_INTEGER_LINE = 40;
/** Longest length header (`$`, `*`, ...), null or boolean line. */
const MAX_HEADER_LINE = 20;
/** Most entries of a map or set (a JavaScript engine limit, in V8). */
const MAX_COLLECTION = 2 ** 24;

/**
 * Checks `limits` and fills in the defaults.
 *
 * @throws {RangeError} when a limit is not an integer in 1..2^32-1.
 */
export function resolveLimits(limits?: RespLimits): Required<RespLimits> {
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(out) as (keyof RespLimits)[]) {
    const value = limits?.[key];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < 1 || value > MAX_LENGTH) {
      throw new RangeError(
        `Cannot create a RESP decoder as '${key}' must be an integer in 1..${MAX_LENGTH}: current value is ${value}`,
      );
    }
    out[key] = value;
  }
  return out;
}

/**
 * The longest line (after the type byte, before CRLF) allowed for each type
 * byte, or -1 for bytes that are no RESP type.
 */
export function lineLimits(maxLineBytes: number): Int32Array {
  if (maxLineBytes === DEFAULT_LIMITS.maxLineBytes && defaultTable) {
    return defaultTable; // shared: decoders only read it
  }
  const table = new Int32Array(256).fill(-1);
  for (const c of "+-,(") table[c.charCodeAt(0)] = maxLineBytes;
  for (const c of "$=!*%~>|_#") table[c.charCodeAt(0)] = MAX_HEADER_LINE;
  table[58] = MAX_INTEGER_LINE; // :
  if (maxLineBytes === DEFAULT_LIMITS.maxLineBytes) defaultTable = table;
  return table;
}
let defaultTable: Int32Array | undefined;

/** The error for a line longer than its limit. */
export function lineTooLong(type: number, limit: number): RespProtocolError {
  const char = String.fromCharCode(type);
  const what = type === 58
    ? "integer"
    : "+-,(".includes(char)
    ? "line"
    : `"${char}" header`;
  const option = what === "line" ? " (maxLineBytes)" : "";
  return protocolError(`${what} longer than ${limit} bytes${option}`);
}

/**
 * Parses the length of a `$`, `=`, `!` or aggregate header; `-1` only when
 * `nullable`.
 *
 * @throws {RespProtocolError} when malformed.
 */
export function readLength(
  b: Uint8Array,
  start: number,
  end: number,
  nullable: boolean,
): number {
  const n = parseLength(b, start, end);
  if (Number.isNaN(n) || (n === -1 && !nullable)) {
    throw protocolError(`bad length ${quote(b, start, end)}`);
  }
  return n;
}

/** The error for a bulk string longer than `max`. */
export function bulkTooLong(n: number, max: number): RespProtocolError {
  return protocolError(
    `bulk string of ${n} bytes, more than ${max} (maxBulkBytes)`,
  );
}

/**
 * Throws when an aggregate of kind `kind` announces more than `maxLength`
 * elements, or would sit below `depth` open ones when `maxDepth` is reached.
 *
 * @throws {RespProtocolError} past a limit.
 */
export function checkAggregate(
  kind: number,
  n: number,
  depth: number,
  maxLength: number,
  maxDepth: number,
): void {
  const max = kind === K_ARRAY || kind === K_PUSH
    ? maxLength
    : Math.min(maxLength, MAX_COLLECTION);
  if (n > max) {
    throw protocolError(
      `aggregate of ${n} elements, more than ${max} (maxAggregateLength)`,
    );
  }
  if (depth >= maxDepth) {
    throw protocolError(
      `aggregates nested deeper than ${maxDepth} (maxDepth)`,
    );
  }
}

/**
 * Parses the value of a one-line element (`+ - : _ # , (`) from its line
 * `b[start, end)`; simple strings as bytes when `bytes`.
 *
 * @throws {RespProtocolError} when malformed.
 */
export function parseLine(
  type: number,
  b: Uint8Array,
  start: number,
  end: number,
  bytes: boolean,
): RedisReply {
  switch (type) {
    case 43: // + simple string
      return bytes ? b.slice(start, end) : utf8(b, start, end);
    case 45: // - error
      return new RedisReplyError(utf8(b, start, end));
    case 58: // : integer
      return parseInteger(b, start, end);
    case 95: // _ null
      if (end !== start) throw protocolError("bad null");
      return null;
    case 35: // # boolean
      if (end === start + 1 && b[start] === 116) return true;
      if (end === start + 1 && b[start] === 102) return false;
      throw protocolError("bad boolean");
    case 44: // , double
      return parseDouble(b, start, end);
    case 40: // ( big number
      return parseBig(b, start, end);
    default:
      throw protocolError(
        `unknown type byte 0x${type.toString(16).padStart(2, "0")}`,
      );
  }
}

/** The frame kind (`K_*`) of an aggregate's type byte. */
export function kindOf(type: number): number {
  return type === 42
    ? K_ARRAY
    : type === 37
    ? K_MAP
    : type === 126
    ? K_SET
    : type === 62
    ? K_PUSH
    : K_ATTR;
}

/**
 * Quotes at most the first 100 bytes of `b[start, end)` for an error
 * message, control characters replaced, with the full length when cut.
 */
export function quote(b: Uint8Array, start: number, end: number): string {
  const cut = end - start > QUOTE_BYTES;
  const s = utf8(b, start, cut ? start + QUOTE_BYTES : end)
    .replace(/\p{Cc}/gu, "\ufffd");
  return cut ? `"${s}..." (${end - start} bytes)` : `"${s}"`;
}
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
function parseLength(b: Uint8Array, start: number, end: number): number {
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
function parseBig(b: Uint8Array, start: number, end: number): bigint {
  const s = utf8(b, start, end);
  if (!/^[+-]?\d+$/.test(s)) {
    throw protocolError(`bad big number ${quote(b, start, end)}`);
  }
  return BigInt(s);
}

/**
 * Parses a RESP3 double, including `inf`, `-inf` and `nan`.
 *
 * @throws {RespProtocolError} when malformed.
 */
function parseDouble(b: Uint8Array, start: number, end: number): number {
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
  if (Number.isNaN(v)) {
    throw protocolError(`bad double ${quote(b, start, end)}`);
  }
  return v;
}
