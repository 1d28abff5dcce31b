/**
 * The push-based RESP2/RESP3 decoder: {@linkcode RespDecoder} turns bytes
 * received in chunks split anywhere into replies, and does no I/O of its own.
 * Its frame and scalar parsers live in `decoder_helpers.ts`.
 *
 * @example Decode a reply
 * ```ts
 * import { RespDecoder } from "./decoder.ts";
 * const decoder = new RespDecoder({ onReply: (reply) => console.log(reply) });
 * decoder.push(new TextEncoder().encode("+OK\r\n")); // logs "OK"
 * ```
 *
 * @module
 */

import { RedisReplyError, RespProtocolError } from "../errors.ts";
import type { DecoderHandlers, RedisReply, RespLimits } from "./types.ts";
import {
  bulkTooLong,
  checkAggregate,
  CR,
  Frame,
  K_ARRAY,
  K_ATTR,
  K_MAP,
  K_SET,
  kindOf,
  LF,
  lineLimits,
  lineTooLong,
  NONE,
  parseLine,
  protocolError,
  readLength,
  resolveLimits,
  utf8,
} from "./decoder_helpers.ts";

/** Above this capacity, an emptied input buffer is dropped, not kept. */
const MAX_KEPT_BUFFER_SIZE = 1 << 20;

/**
 * Push-based RESP2/RESP3 decoder. Feed it chunks split anywhere (even inside
 * `\r\n` or inside a length prefix); it calls `onReply` for each complete
 * reply, in order, and `onPush` for RESP3 push messages.
 *
 * Malformed input, and input beyond its {@linkcode RespLimits}, makes
 * {@linkcode RespDecoder.push} throw a {@linkcode RespProtocolError}; the
 * decoder then refuses more input until {@linkcode RespDecoder.reset} is
 * called. Its buffer grows with the bytes that arrive, never ahead of them.
 *
 * @example
 * ```ts
 * import { RespDecoder } from "./decoder.ts";
 * const replies: unknown[] = [];
 * const decoder = new RespDecoder({ onReply: (reply) => replies.push(reply) });
 * const bytes = new TextEncoder().encode("*2\r\n$3\r\nfoo\r\n:42\r\n");
 * decoder.push(bytes.subarray(0, 7));
 * decoder.push(bytes.subarray(7));
 * console.log(replies); // [["foo", 42]]
 * ```
 */
export class RespDecoder {
  #handlers: DecoderHandlers;
  #maxBulk: number;
  #maxLength: number;
  #maxDepth: number;
  /** Longest line per type byte; -1: not a type byte. */
  #lineMax: Int32Array;
  /** Bytes kept from earlier chunks, always starting at index 0. */
  #buf: Uint8Array = new Uint8Array(0);
  #len = 0;
  /** Bytes (from the start of #buf) needed before parsing can progress. */
  #need = 0;
  /** Offset (from the element start) where the CR search resumes. */
  #scan = 0;
  /** Position up to which the current input is consumed (for callbacks). */
  #at = 0;
  #stack: Frame[] = [];
  #asked = false;
  #bytes = false;
  #broken = false;

  /**
   * Builds a decoder that reports to `handlers`, within `limits` (the
   * defaults where absent).
   *
   * @throws {RangeError} when a limit is not an integer in 1..2^32-1.
   *
   * @example
   * ```ts
   * import { RespDecoder } from "./decoder.ts";
   * const decoder = new RespDecoder({
   *   onReply: (reply) => console.log(reply),
   *   bytesForNext: () => true, // every reply's strings as Uint8Array
   * });
   * ```
   */
  constructor(handlers: DecoderHandlers, limits?: RespLimits) {
    this.#handlers = handlers;
    const resolved = resolveLimits(limits);
    this.#maxBulk = resolved.maxBulkBytes;
    this.#maxLength = resolved.maxAggregateLength;
    this.#maxDepth = resolved.maxDepth;
    this.#lineMax = lineLimits(resolved.maxLineBytes);
  }

  /** Bytes of memory held for input not decoded yet (the buffer's size). */
  get capacity(): number {
    return this.#buf.length;
  }

  /**
   * Feeds a chunk of bytes received from the server. The chunk is not
   * retained: the decoder copies what it needs to keep.
   *
   * @throws {RespProtocolError} when the input is not valid RESP.
   *
   * @example
   * ```ts
   * import { RespDecoder } from "./decoder.ts";
   * const decoder = new RespDecoder({ onReply: (reply) => console.log(reply) });
   * decoder.push(new TextEncoder().encode(":1\r\n:2\r\n")); // logs 1, then 2
   * ```
   */
  push(chunk: Uint8Array): void {
    if (this.#broken) {
      throw new RespProtocolError(
        "RESP decoder failed earlier; call reset() before pushing more data",
      );
    }
    const n = chunk.length;
    const len = this.#len;
    if (len === 0) {
      if (n === 0) return;
      this.#at = 0;
      let pos: number;
      try {
        pos = this.#run(chunk, 0, n);
      } catch (error) {
        this.#fail(error, chunk, n);
        throw error;
      }
      if (pos < n) this.#keep(chunk, pos, n);
      return;
    }
    const total = len + n;
    if (total > this.#buf.length) {
      const next = new Uint8Array(this.#size(total, this.#buf.length * 2));
      next.set(this.#buf.subarray(0, len));
      this.#buf = next;
    }
    const buf = this.#buf;
    buf.set(chunk, len);
    this.#len = total;
    if (total < this.#need) return;
    this.#at = 0;
    let pos: number;
    try {
      pos = this.#run(buf, 0, total);
    } catch (error) {
      this.#fail(error, buf, total);
      throw error;
    }
    this.#consume(pos, total);
  }

  /**
   * Drops buffered bytes (and the buffer's memory) and any partly decoded
   * reply, and clears the failed state left by a
   * {@linkcode RespProtocolError}.
   *
   * @example
   * ```ts
   * import { RespDecoder } from "./decoder.ts";
   * const decoder = new RespDecoder({ onReply() {} });
   * decoder.push(new TextEncoder().encode("$5\r\nhel"));
   * decoder.reset(); // e.g. after the connection dropped
   * ```
   */
  reset(): void {
    this.#len = 0;
    this.#need = 0;
    this.#scan = 0;
    this.#stack = [];
    this.#asked = false;
    this.#bytes = false;
    this.#broken = false;
    this.#buf = new Uint8Array(0);
  }

  /**
   * A buffer size for `total` bytes: `doubled` (at least 1 KiB) doubled on
   * until it holds them, but no more than the element being read needs.
   */
  #size(total: number, doubled: number): number {
    let size = Math.max(doubled, 1024);
    while (size < total) size *= 2;
    const need = this.#need;
    return need >= total && need < size ? need : size;
  }

  /** Keeps `src[from, to)` as the new buffered bytes (`#len` was 0). */
  #keep(src: Uint8Array, from: number, to: number): void {
    const rem = to - from;
    if (this.#buf.length < rem) {
      this.#buf = new Uint8Array(this.#size(rem, rem * 2));
    }
    this.#buf.set(src.subarray(from, to));
    this.#len = rem;
  }

  /** Drops the first `pos` bytes of the internal buffer. */
  #consume(pos: number, total: number): void {
    if (pos === total) {
      this.#len = 0;
      if (this.#buf.length > MAX_KEPT_BUFFER_SIZE) {
        this.#buf = new Uint8Array(0);
      }
    } else {
      if (pos > 0) this.#buf.copyWithin(0, pos, total);
      this.#len = total - pos;
    }
  }

  /** Called when `#run` threw: a protocol error or a handler's error. */
  #fail(error: unknown, src: Uint8Array, total: number): void {
    if (error instanceof RespProtocolError) {
      this.reset();
      this.#broken = true;
      return;
    }
    // A handler threw: keep the undecoded rest for the next push().
    this.#need = 0;
    this.#scan = 0;
    const at = this.#at;
    if (src === this.#buf) this.#consume(at, total);
    else {
      this.#len = 0;
      if (at < total) this.#keep(src, at, total);
    }
  }

  /**
   * Decodes as many elements as are complete in `b[pos, end)`. Returns the
   * position of the first byte of the incomplete element (or `end`), and
   * records in `#need`/`#scan` how to resume.
   */
  #run(b: Uint8Array, pos: number, end: number): number {
    const stack = this.#stack;
    let scan = this.#scan;
    this.#need = 0;
    this.#scan = 0;
    while (pos < end) {
      const type = b[pos];
      if (stack.length === 0 && !this.#asked) {
        if (type === 62 || type === 124) this.#bytes = false;
        else {
          const ask = this.#handlers.bytesForNext;
          this.#bytes = ask === undefined ? false : ask.call(this.#handlers);
          this.#asked = true;
        }
      }
      // Find the end of the header line, no further than its limit.
      const limit = this.#lineMax[type];
      if (limit < 0) {
        throw protocolError(
          `unknown type byte 0x${type.toString(16).padStart(2, "0")}`,
        );
      }
      const last = pos + 1 + limit; // the last place its CR may be
      const stop = last < end ? last + 1 : end;
      let cr = pos + 1 + (scan > 1 ? scan - 1 : 0);
      scan = 0;
      while (cr < stop && b[cr] !== CR) cr++;
      if (cr > last) throw lineTooLong(type, limit);
      if (cr + 1 >= end) {
        this.#scan = cr - pos;
        return pos;
      }
      if (b[cr + 1] !== LF) throw protocolError("CR not followed by LF");
      let next = cr + 2;
      let value: RedisReply;
      switch (type) {
        case 36: // $ bulk string
        case 61: // = verbatim string
        case 33: { // ! bulk error
          const n = readLength(b, pos + 1, cr, type === 36);
          if (n === -1) {
            value = null;
            break;
          }
          if (n > this.#maxBulk) throw bulkTooLong(n, this.#maxBulk);
          const dataEnd = next + n;
          if (dataEnd + 2 > end) {
            this.#need = dataEnd + 2 - pos;
            this.#scan = cr - pos;
            return pos;
          }
          if (b[dataEnd] !== CR || b[dataEnd + 1] !== LF) {
            throw protocolError("bulk string not followed by CRLF");
          }
          let start = next;
          next = dataEnd + 2;
          if (type === 33) {
            value = new RedisReplyError(utf8(b, start, dataEnd));
            break;
          }
          if (type === 61 && n >= 4 && b[start + 3] === 58) start += 4;
          value = this.#bytes
            ? b.slice(start, dataEnd)
            : utf8(b, start, dataEnd);
          break;
        }
        case 42: // * array
        case 37: // % map
        case 126: // ~ set
        case 62: // > push
        case 124: { // | attribute
          const n = readLength(b, pos + 1, cr, type === 42);
          if (n === -1) {
            value = null;
            break;
          }
          const kind = kindOf(type);
          checkAggregate(
            kind,
            n,
            stack.length,
            this.#maxLength,
            this.#maxDepth,
          );
          const count = kind === K_MAP || kind === K_ATTR ? n * 2 : n;
          const frame = new Frame(kind, count);
          pos = next;
          if (count > 0) {
            stack.push(frame);
            continue;
          }
          this.#at = pos;
          this.#deliver(this.#close(frame, pos), pos);
          continue;
        }
        default: // + - : _ # , (
          value = parseLine(type, b, pos + 1, cr, this.#bytes);
      }
      pos = next;
      this.#at = pos;
      this.#deliver(value, pos);
    }
    return pos;
  }

  /** Gives a finished value to its parent aggregate, or to the handlers. */
  #deliver(value: RedisReply | typeof NONE, pos: number): void {
    const stack = this.#stack;
    let v = value;
    while (v !== NONE) {
      const top = stack.length - 1;
      if (top < 0) {
        this.#asked = false;
        this.#handlers.onReply(v);
        return;
      }
      const frame = stack[top];
      frame.items.push(v);
      if (--frame.remaining > 0) return;
      stack.pop();
      v = this.#close(frame, pos);
    }
  }

  /** Turns a complete frame into its value (NONE if it yields nothing). */
  #close(frame: Frame, pos: number): RedisReply | typeof NONE {
    const items = frame.items;
    switch (frame.kind) {
      case K_ARRAY:
        return items;
      case K_MAP: {
        const map = new Map<RedisReply, RedisReply>();
        for (let i = 0; i < items.length; i += 2) {
          map.set(items[i], items[i + 1]);
        }
        return map;
      }
      case K_SET:
        return new Set(items);
      case K_ATTR:
        return NONE;
      default: // K_PUSH
        if (this.#stack.length > 0) return items;
        this.#at = pos;
        this.#asked = false;
        this.#handlers.onPush?.(items);
        return NONE;
    }
  }
}
