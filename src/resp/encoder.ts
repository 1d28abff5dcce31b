/**
 * The RESP command encoder: it turns commands into bytes and does no I/O of
 * its own. {@linkcode encodeCommand} encodes one command;
 * {@linkcode CommandWriter} coalesces many into one buffer.
 *
 * @example Encode a command
 * ```ts
 * import { encodeCommand } from "./encoder.ts";
 * const bytes = encodeCommand(["SET", "lock", "token", "PX", 30000, "NX"]);
 * console.log(bytes.length);
 * ```
 *
 * @module
 */

import type { RedisArg } from "./types.ts";

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
 * import { CommandWriter } from "./encoder.ts";
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
   * import { CommandWriter } from "./encoder.ts";
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
   * import { CommandWriter } from "./encoder.ts";
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
   * import { CommandWriter } from "./encoder.ts";
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
 * import { encodeCommand } from "./encoder.ts";
 * const bytes = encodeCommand(["GET", "k"]);
 * console.log(new TextDecoder().decode(bytes)); // "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
 * ```
 */
export function encodeCommand(args: readonly RedisArg[]): Uint8Array {
  sharedWriter.add(args);
  return sharedWriter.take();
}
