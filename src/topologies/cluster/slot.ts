/**
 * Hash slots of Redis Cluster: {@linkcode keySlot} maps a key to one of the
 * {@linkcode SLOTS} slots, as `CLUSTER KEYSLOT` does (CRC16/XMODEM of the
 * key's UTF-8 bytes, or of its hash tag, modulo 16384). Pure: no I/O.
 *
 * @example
 * ```ts
 * import { keySlot } from "./slot.ts";
 * console.log(keySlot("foo")); // 12182
 * console.log(keySlot("{user1000}.following") === keySlot("{user1000}.followers")); // true
 * ```
 *
 * @module
 */
import type { RedisArg } from "../../resp/types.ts";

/** How many hash slots a Redis Cluster has: slots are `0..SLOTS - 1`. */
export const SLOTS = 16384;

const OPEN = 0x7b; // "{"
const CLOSE = 0x7d; // "}"

/** CRC16/XMODEM (polynomial 0x1021, initial value 0), one entry per byte. */
const TABLE: Uint16Array = (() => {
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let crc = n << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    }
    table[n] = crc & 0xffff;
  }
  return table;
})();

/** One byte more of CRC16. */
function step(crc: number, byte: number): number {
  return ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff];
}

/** The slot of the key's bytes, with the hash tag rule. */
function bytesSlot(bytes: Uint8Array): number {
  let start = 0;
  let end = bytes.length;
  const open = bytes.indexOf(OPEN);
  if (open !== -1) {
    const close = bytes.indexOf(CLOSE, open + 1);
    if (close > open + 1) [start, end] = [open + 1, close];
  }
  let crc = 0;
  for (let i = start; i < end; i++) crc = step(crc, bytes[i]);
  return crc & (SLOTS - 1);
}

/**
 * The slot of a string key, hashing its UTF-8 bytes as they are computed
 * (no allocation). `{` and `}` are ASCII, so the tag is found on the string
 * itself. Lone surrogates count as U+FFFD, as the encoder sends them.
 */
function stringSlot(key: string): number {
  let start = 0;
  let end = key.length;
  const open = key.indexOf("{");
  if (open !== -1) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) [start, end] = [open + 1, close];
  }
  let crc = 0;
  for (let i = start; i < end; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) {
      crc = step(crc, c);
      continue;
    }
    if (c < 0x800) {
      crc = step(step(crc, 0xc0 | (c >> 6)), 0x80 | (c & 0x3f));
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const low = i + 1 < end ? key.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
        const point = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        crc = step(crc, 0xf0 | (point >> 18));
        crc = step(crc, 0x80 | ((point >> 12) & 0x3f));
        crc = step(crc, 0x80 | ((point >> 6) & 0x3f));
        crc = step(crc, 0x80 | (point & 0x3f));
        i++;
        continue;
      }
      c = 0xfffd;
    }
    crc = step(crc, 0xe0 | (c >> 12));
    crc = step(crc, 0x80 | ((c >> 6) & 0x3f));
    crc = step(crc, 0x80 | (c & 0x3f));
  }
  return crc & (SLOTS - 1);
}

/**
 * The hash slot of a key, as `CLUSTER KEYSLOT` computes it: CRC16/XMODEM of
 * its UTF-8 bytes modulo {@linkcode SLOTS}. When the key holds a `{`, then a
 * `}` after it, with at least one byte between them, only those bytes (the
 * hash tag) are hashed: `{user1000}.a` and `{user1000}.b` share a slot;
 * `foo{}{bar}` hashes whole. Numbers and bigints are hashed in decimal, as
 * the encoder sends them.
 *
 * @example
 * ```ts
 * import { keySlot } from "./slot.ts";
 * keySlot("foo"); // 12182
 * keySlot(new TextEncoder().encode("foo")); // 12182
 * keySlot("foo{bar}{zap}") === keySlot("bar"); // true
 * ```
 */
export function keySlot(key: RedisArg): number {
  if (typeof key === "string") return stringSlot(key);
  if (key instanceof Uint8Array) return bytesSlot(key);
  if (typeof key === "number" || typeof key === "bigint") {
    return stringSlot(String(key));
  }
  throw new TypeError(
    `Cannot compute a hash slot as 'key' must be a string, a Uint8Array, a number or a bigint: current type is ${
      key === null ? "null" : typeof key
    }`,
  );
}
