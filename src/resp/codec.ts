/**
 * A pure RESP2/RESP3 codec: it turns commands into bytes and bytes into
 * replies, and does no I/O of its own. {@linkcode encodeCommand} and
 * {@linkcode CommandWriter} write commands; {@linkcode RespDecoder} reads
 * replies from chunks split anywhere.
 *
 * @example Encode a command and decode its reply
 * ```ts
 * import { encodeCommand, RespDecoder } from "./codec.ts";
 * const bytes = encodeCommand(["SET", "lock", "token", "PX", 30000, "NX"]);
 * const decoder = new RespDecoder({ onReply: (reply) => console.log(reply) });
 * decoder.push(new TextEncoder().encode("+OK\r\n")); // logs "OK"
 * console.log(bytes.length);
 * ```
 *
 * @module
 */

import { RedisReplyError, RedsyncError } from "../errors.ts";

/**
 * One argument of a command: strings are sent as UTF-8, numbers and bigints
 * in decimal, byte arrays as they are.
 *
 * @example
 * ```ts
 * import type { RedisArg } from "./codec.ts";
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
 * import type { RedisReply } from "./codec.ts";
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
 * The bytes received from the server do not follow RESP: unknown type byte,
 * bad length, missing line ending, unparsable number. The connection that
 * produced them cannot be trusted any more.
 *
 * @example
 * ```ts
 * import { RespDecoder, RespProtocolError } from "./codec.ts";
 * const decoder = new RespDecoder({ onReply() {} });
 * try {
 *   decoder.push(new TextEncoder().encode("?\r\n"));
 * } catch (error) {
 *   if (error instanceof RespProtocolError) decoder.reset();
 * }
 * ```
 */
export class RespProtocolError extends RedsyncError {
  /** Builds the error from a description of what was wrong. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RespProtocolError";
  }
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

const CR = 13;
const LF = 10;
const DOLLAR = 36;
const STAR = 42;
const INITIAL_WRITER_SIZE = 4096;
/** Above this capacity, `take()` hands the buffer over instead of copying. */
const MAX_KEPT_WRITER_SIZE = 1 << 20;
const SHORT_STRING = 64;

const encoder = new TextEncoder();

function digitCount(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/**
 * Encodes commands into one buffer that grows by doubling, so that many
 * commands can be written to the socket with a single call. After
 * {@linkcode CommandWriter.take} the writer is empty and can be used again.
 *
 * @example Coalesce a pipeline
 * ```ts
 * import { CommandWriter } from "./codec.ts";
 * const writer = new CommandWriter();
 * writer.add(["SET", "a", "1"]);
 * writer.add(["GET", "a"]);
 * const bytes = writer.take(); // both commands, back to back
 * console.log(bytes.length, writer.size); // 47 0
 * ```
 */
export class CommandWriter {
  #buf: Uint8Array = new Uint8Array(INITIAL_WRITER_SIZE);
  #pos = 0;

  /**
   * Appends one command (a RESP array of bulk strings). If an argument is
   * invalid, nothing of this command is kept and a `TypeError` is thrown.
   *
   * @example
   * ```ts
   * import { CommandWriter } from "./codec.ts";
   * const writer = new CommandWriter();
   * writer.add(["PEXPIRE", "lock", 30000n]);
   * ```
   */
  add(args: readonly RedisArg[]): void {
    const start = this.#pos;
    try {
      const n = args.length;
      this.#ensure(1 + 16 + 2);
      this.#header(STAR, n);
      for (let i = 0; i < n; i++) {
        const arg = args[i];
        if (typeof arg === "string") this.#string(arg);
        else if (typeof arg === "number") {
          if (!Number.isFinite(arg)) {
            throw new TypeError(
              `Command argument ${i} is not a finite number: ${arg}`,
            );
          }
          this.#ascii(String(arg));
        } else if (typeof arg === "bigint") this.#ascii(arg.toString());
        else if (arg instanceof Uint8Array) this.#bytes(arg);
        else {
          throw new TypeError(
            `Command argument ${i} has unsupported type ${
              arg === null ? "null" : typeof arg
            }`,
          );
        }
      }
    } catch (error) {
      this.#pos = start;
      throw error;
    }
  }

  /**
   * Bytes written and not yet taken.
   *
   * @example
   * ```ts
   * import { CommandWriter } from "./codec.ts";
   * const writer = new CommandWriter();
   * writer.add(["PING"]);
   * console.log(writer.size); // 14
   * ```
   */
  get size(): number {
    return this.#pos;
  }

  /**
   * Returns the bytes written so far (the caller owns them) and empties the
   * writer.
   *
   * @example
   * ```ts
   * import { CommandWriter } from "./codec.ts";
   * const writer = new CommandWriter();
   * writer.add(["PING"]);
   * const bytes = writer.take();
   * console.log(new TextDecoder().decode(bytes)); // "*1\r\n$4\r\nPING\r\n"
   * ```
   */
  take(): Uint8Array {
    const buf = this.#buf;
    const n = this.#pos;
    this.#pos = 0;
    if (buf.length > MAX_KEPT_WRITER_SIZE) {
      // Hand the big buffer over instead of copying it, and start small again.
      this.#buf = new Uint8Array(INITIAL_WRITER_SIZE);
      return buf.subarray(0, n);
    }
    return buf.slice(0, n);
  }

  #ensure(extra: number): void {
    const need = this.#pos + extra;
    const buf = this.#buf;
    if (need <= buf.length) return;
    let size = buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(buf.subarray(0, this.#pos));
    this.#buf = next;
  }

  /** Writes `<type><n>\r\n`; capacity must already be ensured. */
  #header(type: number, n: number): void {
    const buf = this.#buf;
    let p = this.#pos;
    buf[p++] = type;
    const d = digitCount(n);
    let q = p + d;
    p = q;
    do {
      buf[--q] = 48 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
    buf[p++] = CR;
    buf[p++] = LF;
    this.#pos = p;
  }

  /** Writes a bulk string whose characters are all ASCII. */
  #ascii(s: string): void {
    const len = s.length;
    this.#ensure(len + 24);
    this.#header(DOLLAR, len);
    const buf = this.#buf;
    let p = this.#pos;
    for (let i = 0; i < len; i++) buf[p++] = s.charCodeAt(i);
    buf[p++] = CR;
    buf[p++] = LF;
    this.#pos = p;
  }

  #bytes(b: Uint8Array): void {
    const len = b.length;
    this.#ensure(len + 24);
    this.#header(DOLLAR, len);
    this.#buf.set(b, this.#pos);
    let p = this.#pos + len;
    this.#buf[p++] = CR;
    this.#buf[p++] = LF;
    this.#pos = p;
  }

  #string(s: string): void {
    const len = s.length;
    const start = this.#pos;
    if (len < SHORT_STRING) {
      // Fast path: short ASCII strings, written char by char.
      this.#ensure(len + 8);
      this.#header(DOLLAR, len);
      const buf = this.#buf;
      let p = this.#pos;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p++] = c;
      }
      if (i === len) {
        buf[p++] = CR;
        buf[p++] = LF;
        this.#pos = p;
        return;
      }
      this.#pos = start;
    }
    // General path: encode right after the shortest possible header, then
    // move the data if the byte length needs more digits than `len`.
    const max = len * 3;
    this.#ensure(max + digitCount(max) + 5);
    const buf = this.#buf;
    const d0 = digitCount(len);
    const dataStart = start + 1 + d0 + 2;
    const written = encoder.encodeInto(s, buf.subarray(dataStart)).written;
    const d = digitCount(written);
    if (d !== d0) {
      buf.copyWithin(dataStart + d - d0, dataStart, dataStart + written);
    }
    this.#header(DOLLAR, written);
    let p = this.#pos + written;
    buf[p++] = CR;
    buf[p++] = LF;
    this.#pos = p;
  }
}

const sharedWriter = new CommandWriter();

/**
 * Encodes one command as a RESP array of bulk strings, in one `Uint8Array`.
 * Numbers and bigints are written in decimal, strings as UTF-8.
 *
 * @throws {TypeError} if a number argument is `NaN` or infinite, or an
 * argument has an unsupported type.
 *
 * @example
 * ```ts
 * import { encodeCommand } from "./codec.ts";
 * const bytes = encodeCommand(["GET", "k"]);
 * console.log(new TextDecoder().decode(bytes)); // "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
 * ```
 */
export function encodeCommand(args: readonly RedisArg[]): Uint8Array {
  sharedWriter.add(args);
  return sharedWriter.take();
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/**
 * Callbacks of a {@linkcode RespDecoder}.
 *
 * @example
 * ```ts
 * import type { DecoderHandlers } from "./codec.ts";
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

const K_ARRAY = 0;
const K_MAP = 1;
const K_SET = 2;
const K_PUSH = 3;
const K_ATTR = 4;

/** An aggregate being filled. */
class Frame {
  kind: number;
  remaining: number;
  items: RedisReply[];
  constructor(kind: number, remaining: number) {
    this.kind = kind;
    this.remaining = remaining;
    this.items = [];
  }
}

/** Returned by `close()` when the aggregate yields no value to its parent. */
const NONE: unique symbol = Symbol("none");

const MAX_LENGTH = 0xffffffff;
const SHORT_DECODE = 32;
const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

function utf8(b: Uint8Array, start: number, end: number): string {
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

function protocolError(message: string): RespProtocolError {
  return new RespProtocolError(`Invalid RESP reply: ${message}`);
}

function parseInteger(
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

function parseBig(b: Uint8Array, start: number, end: number): bigint {
  const s = utf8(b, start, end);
  if (!/^[+-]?\d+$/.test(s)) throw protocolError(`bad big number "${s}"`);
  return BigInt(s);
}

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
  if (Number.isNaN(v)) throw protocolError(`bad double "${s}"`);
  return v;
}

/**
 * Push-based RESP2/RESP3 decoder. Feed it chunks split anywhere (even inside
 * `\r\n` or inside a length prefix); it calls `onReply` for each complete
 * reply, in order, and `onPush` for RESP3 push messages.
 *
 * Malformed input makes {@linkcode RespDecoder.push} throw a
 * {@linkcode RespProtocolError}; the decoder then refuses more input until
 * {@linkcode RespDecoder.reset} is called.
 *
 * @example
 * ```ts
 * import { RespDecoder } from "./codec.ts";
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
   * Builds a decoder that reports to `handlers`.
   *
   * @example
   * ```ts
   * import { RespDecoder } from "./codec.ts";
   * const decoder = new RespDecoder({
   *   onReply: (reply) => console.log(reply),
   *   bytesForNext: () => true, // every reply's strings as Uint8Array
   * });
   * ```
   */
  constructor(handlers: DecoderHandlers) {
    this.#handlers = handlers;
  }

  /**
   * Feeds a chunk of bytes received from the server. The chunk is not
   * retained: the decoder copies what it needs to keep.
   *
   * @throws {RespProtocolError} when the input is not valid RESP.
   *
   * @example
   * ```ts
   * import { RespDecoder } from "./codec.ts";
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
      let size = Math.max(this.#buf.length * 2, this.#need, 1024);
      while (size < total) size *= 2;
      const next = new Uint8Array(size);
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
   * Drops buffered bytes and any partly decoded reply, and clears the failed
   * state left by a {@linkcode RespProtocolError}.
   *
   * @example
   * ```ts
   * import { RespDecoder } from "./codec.ts";
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
    if (this.#buf.length > MAX_KEPT_WRITER_SIZE) this.#buf = new Uint8Array(0);
  }

  /** Keeps `src[from, to)` as the new buffered bytes (`#len` was 0). */
  #keep(src: Uint8Array, from: number, to: number): void {
    const rem = to - from;
    if (this.#buf.length < rem || this.#buf.length < this.#need) {
      this.#buf = new Uint8Array(Math.max(1024, rem * 2, this.#need));
    }
    this.#buf.set(src.subarray(from, to));
    this.#len = rem;
  }

  /** Drops the first `pos` bytes of the internal buffer. */
  #consume(pos: number, total: number): void {
    if (pos === total) {
      this.#len = 0;
      if (this.#buf.length > MAX_KEPT_WRITER_SIZE) {
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
      // Find the end of the header line.
      let cr = pos + 1 + (scan > 1 ? scan - 1 : 0);
      scan = 0;
      while (cr < end && b[cr] !== CR) cr++;
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
          const n = parseLength(b, pos + 1, cr);
          if (Number.isNaN(n) || (n === -1 && type !== 36)) {
            throw protocolError(`bad length "${utf8(b, pos + 1, cr)}"`);
          }
          if (n === -1) {
            value = null;
            break;
          }
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
        case 43: // + simple string
          value = this.#bytes ? b.slice(pos + 1, cr) : utf8(b, pos + 1, cr);
          break;
        case 45: // - error
          value = new RedisReplyError(utf8(b, pos + 1, cr));
          break;
        case 58: // : integer
          value = parseInteger(b, pos + 1, cr);
          break;
        case 42: // * array
        case 37: // % map
        case 126: // ~ set
        case 62: // > push
        case 124: { // | attribute
          const n = parseLength(b, pos + 1, cr);
          if (Number.isNaN(n) || (n === -1 && type !== 42)) {
            throw protocolError(`bad length "${utf8(b, pos + 1, cr)}"`);
          }
          if (n === -1) {
            value = null;
            break;
          }
          const kind = type === 42
            ? K_ARRAY
            : type === 37
            ? K_MAP
            : type === 126
            ? K_SET
            : type === 62
            ? K_PUSH
            : K_ATTR;
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
        case 95: // _ null
          if (cr !== pos + 1) throw protocolError("bad null");
          value = null;
          break;
        case 35: // # boolean
          if (cr !== pos + 2) throw protocolError("bad boolean");
          if (b[pos + 1] === 116) value = true;
          else if (b[pos + 1] === 102) value = false;
          else throw protocolError("bad boolean");
          break;
        case 44: // , double
          value = parseDouble(b, pos + 1, cr);
          break;
        case 40: // ( big number
          value = parseBig(b, pos + 1, cr);
          break;
        default:
          throw protocolError(
            `unknown type byte 0x${type.toString(16).padStart(2, "0")}`,
          );
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
