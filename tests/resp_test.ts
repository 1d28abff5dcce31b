import assert from "node:assert/strict";
import process from "node:process";
import { test } from "./_test.ts";
import { CommandWriter, encodeCommand } from "../src/resp/encoder.ts";
import { RespDecoder } from "../src/resp/decoder.ts";
import type {
  DecoderHandlers,
  RedisReply,
  RespLimits,
} from "../src/resp/types.ts";
import { RedisReplyError, RespProtocolError } from "../src/errors.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const enc = (s: string): Uint8Array => te.encode(s);

function concat(...parts: (string | Uint8Array)[]): Uint8Array {
  const bufs = parts.map((p) => typeof p === "string" ? enc(p) : p);
  const out = new Uint8Array(bufs.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of bufs) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

/** A comparable form: errors become tagged objects, bytes plain arrays. */
type Plain =
  | string
  | number
  | bigint
  | boolean
  | null
  | { err: string; code: string }
  | { bytes: number[] }
  | Plain[]
  | Map<Plain, Plain>
  | Set<Plain>;

function plain(v: RedisReply): Plain {
  if (v instanceof RedisReplyError) return { err: v.message, code: v.code };
  if (v instanceof Uint8Array) return { bytes: Array.from(v) };
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Map) {
    const m = new Map<Plain, Plain>();
    for (const [k, x] of v) m.set(plain(k), plain(x));
    return m;
  }
  if (v instanceof Set) return new Set([...v].map(plain));
  return v;
}

type Event = ["reply", Plain] | ["push", Plain];

interface Collector {
  decoder: RespDecoder;
  events: Event[];
  asked: number;
}

/** A decoder that records events; bytes mode follows `bytesPlan` per reply. */
function collector(bytesPlan?: (index: number) => boolean): Collector {
  const c: Collector = {
    decoder: undefined as unknown as RespDecoder,
    events: [],
    asked: 0,
  };
  const handlers: DecoderHandlers = {
    onReply: (r) => c.events.push(["reply", plain(r)]),
    onPush: (p) => c.events.push(["push", plain(p)]),
  };
  if (bytesPlan) handlers.bytesForNext = () => bytesPlan(c.asked++);
  c.decoder = new RespDecoder(handlers);
  return c;
}

function decodeAll(input: string | Uint8Array): RedisReply[] {
  const out: RedisReply[] = [];
  const d = new RespDecoder({ onReply: (r) => out.push(r) });
  d.push(typeof input === "string" ? enc(input) : input);
  return out;
}

function decodeOne(input: string | Uint8Array): RedisReply {
  const out = decodeAll(input);
  assert.equal(out.length, 1);
  return out[0];
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

test("encodeCommand: simple command", () => {
  assert.deepEqual(
    encodeCommand(["SET", "key", "value"]),
    enc("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"),
  );
  assert.deepEqual(encodeCommand([]), enc("*0\r\n"));
  assert.deepEqual(encodeCommand([""]), enc("*1\r\n$0\r\n\r\n"));
});

test("encodeCommand: numbers and bigints in decimal", () => {
  assert.deepEqual(
    encodeCommand(["PX", 30000, -5, 1.5, 0, -0, 12345678901234567890n, -3n]),
    enc(
      "*8\r\n$2\r\nPX\r\n$5\r\n30000\r\n$2\r\n-5\r\n$3\r\n1.5\r\n$1\r\n0\r\n" +
        "$1\r\n0\r\n$20\r\n12345678901234567890\r\n$2\r\n-3\r\n",
    ),
  );
});

test("encodeCommand: UTF-8 length counts bytes", () => {
  assert.deepEqual(
    encodeCommand(["é", "€", "😀", "aé"]),
    enc("*4\r\n$2\r\né\r\n$3\r\n€\r\n$4\r\n😀\r\n$3\r\naé\r\n"),
  );
  // Long strings (general path), including a digit-count change: 4 chars
  // of 3 bytes → 12 bytes; 40 chars → 120 bytes.
  for (const s of ["€€€€", "€".repeat(40), "x".repeat(100), "é".repeat(5000)]) {
    const bytes = enc(s);
    assert.deepEqual(
      encodeCommand([s]),
      concat(`*1\r\n$${bytes.length}\r\n`, bytes, "\r\n"),
    );
  }
  // Lone surrogate → U+FFFD, like TextEncoder.
  assert.deepEqual(
    encodeCommand(["a\ud800"]),
    concat("*1\r\n$4\r\n", enc("a\ud800"), "\r\n"),
  );
});

test("encodeCommand: Uint8Array arguments are written as is", () => {
  const bin = new Uint8Array([0, 13, 10, 255, 128]);
  assert.deepEqual(
    encodeCommand(["SET", bin, new Uint8Array(0)]),
    concat("*3\r\n$3\r\nSET\r\n$5\r\n", bin, "\r\n$0\r\n\r\n"),
  );
  const big = new Uint8Array(100_000).fill(7);
  assert.deepEqual(
    encodeCommand([big]),
    concat("*1\r\n$100000\r\n", big, "\r\n"),
  );
});

test("encodeCommand: non-finite numbers throw TypeError naming the index", () => {
  assert.throws(() => encodeCommand(["SET", "k", NaN]), (e: unknown) => {
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /argument 2/);
    return true;
  });
  assert.throws(() => encodeCommand([Infinity]), TypeError);
  assert.throws(() => encodeCommand(["a", -Infinity]), /argument 1/);
  assert.throws(
    () => encodeCommand([{} as unknown as string]),
    TypeError,
  );
  // The shared writer is still usable.
  assert.deepEqual(encodeCommand(["PING"]), enc("*1\r\n$4\r\nPING\r\n"));
});

test("CommandWriter: coalesces commands and is reusable after take()", () => {
  const w = new CommandWriter();
  assert.equal(w.size, 0);
  w.add(["SET", "a", "1"]);
  w.add(["GET", "a"]);
  assert.equal(w.size, 47);
  const first = w.take();
  assert.deepEqual(
    first,
    enc(
      "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
    ),
  );
  assert.equal(w.size, 0);
  assert.deepEqual(w.take(), new Uint8Array(0));
  w.add(["PING"]);
  const second = w.take();
  assert.deepEqual(second, enc("*1\r\n$4\r\nPING\r\n"));
  // The first result was not overwritten by later writes.
  assert.equal(td.decode(first.subarray(0, 4)), "*3\r\n");
});

test("CommandWriter: grows by doubling and keeps earlier commands", () => {
  const w = new CommandWriter();
  const expected: Uint8Array[] = [];
  for (let i = 0; i < 2000; i++) {
    const args = ["SET", `key:${i}`, "v".repeat(i % 50), i];
    w.add(args);
    expected.push(encodeCommand(args));
  }
  const big = "€".repeat(500_000);
  w.add(["SET", "big", big]);
  expected.push(encodeCommand(["SET", "big", big]));
  const all = concat(...expected);
  assert.equal(w.size, all.length);
  assert.deepEqual(w.take(), all);
  w.add(["PING"]);
  assert.deepEqual(w.take(), enc("*1\r\n$4\r\nPING\r\n"));
});

test("CommandWriter: a failed add() leaves nothing behind", () => {
  const w = new CommandWriter();
  w.add(["PING"]);
  assert.throws(() => w.add(["SET", "k", "v", NaN]), TypeError);
  assert.equal(w.size, 14);
  assert.deepEqual(w.take(), enc("*1\r\n$4\r\nPING\r\n"));
});

// ---------------------------------------------------------------------------
// Decoding: types
// ---------------------------------------------------------------------------

test("RESP2 simple string, error, integer", () => {
  assert.equal(decodeOne("+OK\r\n"), "OK");
  assert.equal(decodeOne("+\r\n"), "");
  const err = decodeOne("-WRONGTYPE Operation against a key\r\n");
  assert.ok(err instanceof RedisReplyError);
  assert.equal(err.message, "WRONGTYPE Operation against a key");
  assert.equal(err.code, "WRONGTYPE");
  assert.equal(decodeOne(":0\r\n"), 0);
  assert.equal(decodeOne(":42\r\n"), 42);
  assert.equal(decodeOne(":-42\r\n"), -42);
  assert.ok(Object.is(decodeOne(":-0\r\n"), 0));
  assert.equal(decodeOne(":9007199254740991\r\n"), 9007199254740991);
  assert.equal(decodeOne(":-9007199254740991\r\n"), -9007199254740991);
  assert.equal(decodeOne(":9007199254740992\r\n"), 9007199254740992n);
  assert.equal(decodeOne(":-9223372036854775808\r\n"), -9223372036854775808n);
  assert.equal(
    decodeOne(":123456789012345678901234\r\n"),
    123456789012345678901234n,
  );
  assert.equal(decodeOne(":1234567890123456\r\n"), 1234567890123456);
});

test("RESP2 bulk strings, null forms, arrays", () => {
  assert.equal(decodeOne("$5\r\nhello\r\n"), "hello");
  assert.equal(decodeOne("$0\r\n\r\n"), "");
  assert.equal(decodeOne("$-1\r\n"), null);
  assert.equal(decodeOne("*-1\r\n"), null);
  assert.deepEqual(decodeOne("*0\r\n"), []);
  assert.deepEqual(
    plain(decodeOne("*3\r\n$3\r\nfoo\r\n$-1\r\n:7\r\n")),
    ["foo", null, 7],
  );
  assert.deepEqual(
    plain(decodeOne("*2\r\n*2\r\n:1\r\n*0\r\n*1\r\n*1\r\n+deep\r\n")),
    [[1, []], [["deep"]]],
  );
  const long = "x".repeat(1000);
  assert.equal(decodeOne(`$1000\r\n${long}\r\n`), long);
});

test("UTF-8 multi-byte strings", () => {
  for (
    const s of [
      "é",
      "日本語",
      "😀 emoji",
      "a".repeat(31) + "é",
      "€".repeat(100),
    ]
  ) {
    const b = enc(s);
    assert.equal(decodeOne(concat(`$${b.length}\r\n`, b, "\r\n")), s);
    assert.equal(decodeOne(concat("+", b, "\r\n")), s);
  }
  // A BOM is kept, invalid UTF-8 becomes U+FFFD (non-fatal).
  assert.equal(
    decodeOne(concat("$4\r\n", new Uint8Array([0xef, 0xbb, 0xbf, 65]), "\r\n")),
    "\ufeffA",
  );
  assert.equal(
    decodeOne(concat("$2\r\n", new Uint8Array([0xff, 65]), "\r\n")),
    "\ufffdA",
  );
});

test("errors are values, top-level and nested (EXEC)", () => {
  const r = decodeOne("*3\r\n+OK\r\n-ERR bad thing\r\n:1\r\n");
  assert.ok(Array.isArray(r));
  assert.equal(r[0], "OK");
  assert.ok(r[1] instanceof RedisReplyError);
  assert.equal(r[1].code, "ERR");
  assert.equal(r[1].message, "ERR bad thing");
  assert.equal(r[2], 1);
  const blob = decodeOne("!21\r\nSYNTAX invalid syntax\r\n");
  assert.ok(blob instanceof RedisReplyError);
  assert.equal(blob.message, "SYNTAX invalid syntax");
  assert.equal(blob.code, "SYNTAX");
  const e2 = decodeOne("-NOSCRIPT\r\n");
  assert.ok(e2 instanceof RedisReplyError);
  assert.equal(e2.code, "NOSCRIPT");
});

test("RESP3 null, boolean, double, big number", () => {
  assert.equal(decodeOne("_\r\n"), null);
  assert.equal(decodeOne("#t\r\n"), true);
  assert.equal(decodeOne("#f\r\n"), false);
  assert.equal(decodeOne(",1.5\r\n"), 1.5);
  assert.equal(decodeOne(",-2\r\n"), -2);
  assert.equal(decodeOne(",10\r\n"), 10);
  assert.equal(decodeOne(",1.23e10\r\n"), 1.23e10);
  assert.equal(decodeOne(",1.5E-7\r\n"), 1.5e-7);
  assert.equal(decodeOne(",inf\r\n"), Infinity);
  assert.equal(decodeOne(",-inf\r\n"), -Infinity);
  assert.ok(Number.isNaN(decodeOne(",nan\r\n")));
  assert.equal(
    decodeOne("(3492890328409238509324850943850943825024385\r\n"),
    3492890328409238509324850943850943825024385n,
  );
  assert.equal(decodeOne("(-12\r\n"), -12n);
  assert.equal(decodeOne("(5\r\n"), 5n);
});

test("RESP3 verbatim strings drop the format prefix", () => {
  assert.equal(decodeOne("=15\r\ntxt:Some string\r\n"), "Some string");
  assert.equal(decodeOne("=4\r\nmkd:\r\n"), "");
  const d = new RespDecoder({
    onReply: (r) => out.push(r),
    bytesForNext: () => true,
  });
  const out: RedisReply[] = [];
  d.push(enc("=7\r\ntxt:a\r\n\r\n"));
  assert.deepEqual(out, [enc("a\r\n")]);
});

test("RESP3 map, set, nested aggregates", () => {
  const m = decodeOne(
    "%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n*2\r\n#t\r\n_\r\n",
  );
  assert.ok(m instanceof Map);
  assert.deepEqual(
    plain(m),
    new Map<Plain, Plain>([["first", 1], ["second", [true, null]]]),
  );
  const s = decodeOne("~3\r\n+a\r\n:1\r\n+a\r\n");
  assert.ok(s instanceof Set);
  assert.deepEqual(s, new Set(["a", 1]));
  assert.deepEqual(decodeOne("%0\r\n"), new Map());
  assert.deepEqual(decodeOne("~0\r\n"), new Set());
  assert.deepEqual(
    plain(
      decodeOne("*2\r\n%1\r\n+k\r\n~1\r\n%1\r\n:1\r\n*1\r\n,2.5\r\n:9\r\n"),
    ),
    [
      new Map<Plain, Plain>([[
        "k",
        new Set<Plain>([new Map<Plain, Plain>([[1, [2.5]]])]),
      ]]),
      9,
    ],
  );
});

test("deeply nested arrays do not blow the stack", () => {
  // Past the default maxDepth (1000): the decoder's stack is its own array.
  const depth = 100_000;
  const out: RedisReply[] = [];
  const d = new RespDecoder({ onReply: (x) => out.push(x) }, {
    maxDepth: depth,
  });
  d.push(enc("*1\r\n".repeat(depth) + ":1\r\n"));
  assert.equal(out.length, 1);
  const r = out[0];
  let v: RedisReply = r;
  for (let i = 0; i < depth; i++) {
    assert.ok(Array.isArray(v));
    v = v[0];
  }
  assert.equal(v, 1);
});

test("RESP3 attributes are skipped", () => {
  assert.deepEqual(
    plain(
      decodeOne(
        "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
      ),
    ),
    [2039123, 9543892],
  );
  // Nested attribute before an element, and an empty attribute.
  assert.deepEqual(
    plain(decodeOne("*3\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n|0\r\n:3\r\n")),
    [1, 2, 3],
  );
  assert.deepEqual(decodeAll("|1\r\n+a\r\n+b\r\n+OK\r\n:5\r\n"), ["OK", 5]);
});

test("RESP3 push goes to onPush, not onReply; dropped without onPush", () => {
  const c = collector();
  c.decoder.push(
    enc(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n:1\r\n>0\r\n"),
  );
  assert.deepEqual(c.events, [
    ["push", ["message", "ch", "hi"]],
    ["reply", 1],
    ["push", []],
  ]);
  assert.deepEqual(
    decodeAll(">2\r\n+invalidate\r\n*1\r\n+k\r\n+OK\r\n"),
    ["OK"],
  );
});

test("bytes mode: binary bulk strings, copies, per-reply hook", () => {
  const bin = new Uint8Array([0, 13, 10, 0x80, 0xff, 13, 10, 65]);
  const chunk = concat(
    "$8\r\n",
    bin,
    "\r\n+OK\r\n$8\r\n",
    bin,
    "\r\n*2\r\n$1\r\nx\r\n+y\r\n*2\r\n$1\r\nx\r\n+y\r\n",
  );
  const plan = [true, true, false, true, false];
  const out: RedisReply[] = [];
  let asked = 0;
  const d = new RespDecoder({
    onReply: (r) => out.push(r),
    bytesForNext: () => plan[asked++],
  });
  d.push(chunk);
  assert.equal(asked, 5);
  assert.deepEqual(out, [bin, enc("OK"), td.decode(bin), [enc("x"), enc("y")], [
    "x",
    "y",
  ]]);
  // The Uint8Array is a copy: changing the input does not change the reply.
  const first = out[0] as Uint8Array;
  chunk.fill(0);
  assert.deepEqual(first, bin);
  assert.ok(first.buffer !== chunk.buffer);
  // Also when the reply came from the decoder's internal buffer.
  const out2: Uint8Array[] = [];
  const d2 = new RespDecoder({
    onReply: (r) => out2.push(r as Uint8Array),
    bytesForNext: () => true,
  });
  const s = concat("$8\r\n", bin, "\r\n");
  d2.push(s.subarray(0, 3));
  d2.push(s.subarray(3));
  d2.push(s.subarray(0, 5));
  d2.push(s.subarray(5));
  assert.deepEqual(out2, [bin, bin]);
  assert.notEqual(out2[0].buffer, out2[1].buffer);
});

test("bytesForNext is asked once per reply, even across chunks, not for pushes", () => {
  const c = collector(() => false);
  const bytes = enc(
    "$10\r\n0123456789\r\n>1\r\n+p\r\n|1\r\n+a\r\n+b\r\n:1\r\n",
  );
  for (const b of bytes) c.decoder.push(new Uint8Array([b]));
  assert.equal(c.asked, 2);
  assert.deepEqual(c.events, [["reply", "0123456789"], ["push", ["p"]], [
    "reply",
    1,
  ]]);
});

// ---------------------------------------------------------------------------
// Decoding: chunking
// ---------------------------------------------------------------------------

const STREAM = concat(
  "+OK\r\n",
  "-ERR unknown command 'FOO'\r\n",
  ":0\r\n:-12345\r\n:18446744073709551615\r\n",
  "$5\r\nhello\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n",
  "$5\r\n\u00e9t\u00e9\r\n",
  concat("$6\r\n", new Uint8Array([0, 13, 10, 0x80, 0xff, 1]), "\r\n"),
  "*3\r\n+OK\r\n-EXECABORT x\r\n*2\r\n:1\r\n$3\r\nabc\r\n",
  "_\r\n#t\r\n#f\r\n,3.25\r\n,-inf\r\n,nan\r\n,1e300\r\n(123456789012345678901234567890\r\n",
  "!9\r\nERR blob!\r\n=9\r\ntxt:hello\r\n",
  "%2\r\n+a\r\n:1\r\n+b\r\n~2\r\n:1\r\n:2\r\n",
  ">2\r\n+invalidate\r\n*1\r\n$3\r\nkey\r\n",
  "|1\r\n+ttl\r\n:10\r\n+after-attribute\r\n",
  "*2\r\n|1\r\n+x\r\n+y\r\n+z\r\n*1\r\n%0\r\n:5\r\n",
  `$300\r\n${"z".repeat(300)}\r\n`,
  "+last\r\n",
);

/** Bytes mode for every third reply, so the per-reply hook is exercised. */
const PLAN = (i: number) => i % 3 === 1;

function decodeChunks(chunks: Uint8Array[]): Collector {
  const c = collector(PLAN);
  for (const chunk of chunks) c.decoder.push(chunk);
  return c;
}

const reference = decodeChunks([STREAM]);

test("reference stream decodes as expected", () => {
  assert.equal(reference.events.length, 30);
  assert.equal(reference.asked, 29);
  assert.deepEqual(reference.events.slice(0, 6), [
    ["reply", "OK"],
    ["reply", { err: "ERR unknown command 'FOO'", code: "ERR" }],
    ["reply", 0],
    ["reply", -12345],
    ["reply", 18446744073709551615n],
    ["reply", "hello"],
  ]);
  assert.deepEqual(reference.events.slice(-6), [
    ["push", ["invalidate", ["key"]]],
    ["reply", "after-attribute"],
    ["reply", [{ bytes: [122] }, [new Map()]]],
    ["reply", 5],
    ["reply", "z".repeat(300)],
    ["reply", { bytes: Array.from(enc("last")) }],
  ]);
});

test("chunking: split at every byte boundary", () => {
  for (let i = 0; i <= STREAM.length; i++) {
    const c = decodeChunks([STREAM.subarray(0, i), STREAM.subarray(i)]);
    assert.deepEqual(c.events, reference.events, `split at ${i}`);
    assert.equal(c.asked, reference.asked);
  }
});

test("chunking: one byte at a time", () => {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < STREAM.length; i++) chunks.push(STREAM.slice(i, i + 1));
  const c = decodeChunks(chunks);
  assert.deepEqual(c.events, reference.events);
  assert.equal(c.asked, reference.asked);
});

test("chunking: random splits (seeded)", () => {
  const rand = mulberry32(0xc0ffee);
  for (let iter = 0; iter < 500; iter++) {
    const chunks: Uint8Array[] = [];
    let pos = 0;
    const maxChunk = 1 + Math.floor(rand() * 64);
    while (pos < STREAM.length) {
      const n = Math.floor(rand() * (maxChunk + 1));
      // Copies into a reused scratch buffer: the decoder must not keep views.
      chunks.push(STREAM.slice(pos, pos + n));
      pos += n;
    }
    const c = collector(PLAN);
    const scratch = new Uint8Array(64);
    for (const chunk of chunks) {
      scratch.set(chunk);
      c.decoder.push(scratch.subarray(0, chunk.length));
      scratch.fill(0xaa);
    }
    assert.deepEqual(c.events, reference.events, `iteration ${iter}`);
  }
});

test("chunking: large bulk string arriving in many chunks", () => {
  const payload = new Uint8Array(1_000_000);
  for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
  const bytes = concat("+a\r\n$1000000\r\n", payload, "\r\n+b\r\n");
  const out: RedisReply[] = [];
  const d = new RespDecoder({
    onReply: (r) => out.push(r),
    bytesForNext: () => true,
  });
  for (let i = 0; i < bytes.length; i += 997) {
    d.push(bytes.subarray(i, i + 997));
  }
  assert.equal(out.length, 3);
  assert.deepEqual(out[1], payload);
  assert.deepEqual(out[2], enc("b"));
});

// ---------------------------------------------------------------------------
// Decoding: malformed input, reset, handler errors
// ---------------------------------------------------------------------------

test("malformed input throws RespProtocolError; reset() recovers", () => {
  const bad = [
    "?x\r\n",
    "$abc\r\n",
    "$-2\r\n",
    "*-2\r\n",
    "%-1\r\n",
    "*1x\r\n",
    "$3\r\nabcXY",
    "+OK\rX\n",
    "#x\r\n",
    "#tt\r\n",
    "_x\r\n",
    ",abc\r\n",
    ",\r\n",
    ":12a\r\n",
    ":\r\n",
    "(12a\r\n",
    "$99999999999\r\n",
  ];
  for (const input of bad) {
    const out: RedisReply[] = [];
    const d = new RespDecoder({ onReply: (r) => out.push(r) });
    assert.throws(() => d.push(enc(input)), (e: unknown) => {
      assert.ok(e instanceof RespProtocolError, input);
      assert.equal(e.name, "RespProtocolError");
      return true;
    });
    // Refuses more input until reset().
    assert.throws(() => d.push(enc("+OK\r\n")), RespProtocolError);
    d.reset();
    d.push(enc("+OK\r\n"));
    assert.deepEqual(out, ["OK"], input);
  }
  // Also when the bad byte arrives in a later chunk.
  const d = new RespDecoder({ onReply() {} });
  d.push(enc("*2\r\n:1\r\n"));
  assert.throws(() => d.push(enc("@\r\n")), RespProtocolError);
});

test("reset() drops a partial reply", () => {
  const out: RedisReply[] = [];
  const d = new RespDecoder({ onReply: (r) => out.push(r) });
  d.push(enc("*2\r\n$5\r\nhel"));
  d.reset();
  d.push(enc(":1\r\n"));
  assert.deepEqual(out, [1]);
});

test("a throwing handler does not lose the following replies", () => {
  const out: RedisReply[] = [];
  const d = new RespDecoder({
    onReply: (r) => {
      if (r === "boom") throw new Error("handler");
      out.push(r);
    },
  });
  assert.throws(() => d.push(enc("+a\r\n+boom\r\n+b\r\n$3\r\nc")), /handler/);
  d.push(enc("cc\r\n"));
  assert.deepEqual(out, ["a", "b", "ccc"]);
});

// ---------------------------------------------------------------------------
// Decoding: limits on what a server can make the client hold
// ---------------------------------------------------------------------------

/** Pushes `input` into `d` and returns the RespProtocolError it throws. */
function protocolFailure(d: RespDecoder, input: Uint8Array): RespProtocolError {
  try {
    d.push(input);
  } catch (error) {
    assert.ok(error instanceof RespProtocolError, String(error));
    return error;
  }
  assert.fail(
    `no error for ${JSON.stringify(td.decode(input.subarray(0, 60)))}`,
  );
}

const noop = (): RespDecoder => new RespDecoder({ onReply() {} });

test("limits: a bulk length past maxBulkBytes fails at its header, before any data", () => {
  for (const type of ["$", "=", "!"]) {
    const d = noop();
    const error = protocolFailure(d, enc(`${type}2147483648\r\n`));
    assert.match(
      error.message,
      /2147483648 bytes, more than 536870912 \(maxBulkBytes\)/,
    );
    assert.equal(d.capacity, 0);
  }
  // One byte over the default, in the middle of an aggregate, split.
  const d = noop();
  d.push(enc("*2\r\n:1\r\n$5368"));
  assert.throws(() => d.push(enc("70913\r\n")), RespProtocolError);
  // A configured limit.
  const small = new RespDecoder({ onReply() {} }, { maxBulkBytes: 10 });
  small.push(enc("$10\r\n0123456789\r\n"));
  assert.throws(
    () => small.push(enc("$11\r\n")),
    /more than 10 \(maxBulkBytes\)/,
  );
});

test("limits: a bulk string's buffer grows with its bytes, never ahead of them", () => {
  const d = noop();
  d.push(enc("$536870912\r\n")); // the largest allowed: nothing taken yet
  assert.ok(d.capacity <= 1024, `capacity ${d.capacity}`);
  d.push(new Uint8Array(5000));
  assert.ok(d.capacity <= 16 * 1024, `capacity ${d.capacity}`);
  d.reset();
  assert.equal(d.capacity, 0);
  // Grows by doubling with what arrived, and never past what the string needs.
  const n = 3_000_000;
  const out: RedisReply[] = [];
  const e = new RespDecoder({ onReply: (r) => out.push(r) });
  const header = enc(`$${n}\r\n`);
  const need = header.length + n + 2;
  e.push(header);
  let arrived = header.length;
  const chunk = new Uint8Array(65_536).fill(120);
  while (arrived + chunk.length < need - 2) {
    e.push(chunk);
    arrived += chunk.length;
    assert.ok(
      e.capacity <= Math.max(2048, 2 * arrived),
      `capacity ${e.capacity}`,
    );
    assert.ok(e.capacity <= need, `capacity ${e.capacity}`);
  }
  e.push(new Uint8Array(need - 2 - arrived).fill(120));
  e.push(enc("\r\n"));
  assert.equal(out.length, 1);
  assert.equal((out[0] as string).length, n);
});

test("limits: a line without CRLF fails at maxLineBytes", () => {
  for (const type of ["+", "-", ",", "("]) {
    const d = noop();
    d.push(enc(type + "a".repeat(65_536))); // at the limit: still waiting
    const error = protocolFailure(d, enc("a"));
    assert.match(
      error.message,
      /line longer than 65536 bytes \(maxLineBytes\)/,
    );
    assert.equal(d.capacity, 0);
  }
  const out: RedisReply[] = [];
  const ok = new RespDecoder({ onReply: (r) => out.push(r) });
  ok.push(enc("+" + "a".repeat(65_536) + "\r\n"));
  assert.equal((out[0] as string).length, 65_536);
  // A configured limit, fed one byte at a time, and all at once.
  const limited = () =>
    new RespDecoder({ onReply: (r) => out.push(r) }, { maxLineBytes: 8 });
  const one = limited();
  for (const b of enc("+12345678\r\n+1234567")) one.push(new Uint8Array([b]));
  one.push(enc("8"));
  assert.throws(() => one.push(enc("9")), /longer than 8 bytes/);
  assert.throws(() => limited().push(enc("-123456789\r\n")), RespProtocolError);
});

test("limits: a 20 MB integer line fails at once, whole or in chunks", () => {
  const line = enc(":" + "1".repeat(20_000_000) + "\r\n");
  const error = protocolFailure(noop(), line);
  assert.match(error.message, /integer longer than 40 bytes/);
  const d = noop();
  d.push(line.subarray(0, 41)); // ":" and 40 digits: still allowed
  assert.throws(() => d.push(line.subarray(41, 1 << 20)), RespProtocolError);
  // Length headers: 20 bytes at most, refused before their CRLF.
  for (const type of ["$", "*", "%", "~", ">", "|", "=", "!", "_", "#"]) {
    const h = noop();
    h.push(enc(type + "0".repeat(20)));
    assert.throws(() => h.push(enc("0")), /header longer than 20 bytes/, type);
  }
  // Up to 40 bytes still decode, as bigints when past 2^53.
  assert.equal(decodeOne(`:-${"9".repeat(39)}\r\n`), -(10n ** 39n - 1n));
});

test("limits: aggregates past maxAggregateLength fail at their header", () => {
  for (const type of ["*", "%", "~", ">", "|"]) {
    const d = noop();
    d.push(enc(`${type}16777216\r\n`)); // the default limit: allowed
    const error = protocolFailure(noop(), enc(`${type}16777217\r\n`));
    assert.match(error.message, /16777217 elements, more than 16777216/);
  }
  const out: RedisReply[] = [];
  const d = new RespDecoder({ onReply: (r) => out.push(r) }, {
    maxAggregateLength: 2,
  });
  d.push(enc("*2\r\n:1\r\n%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n"));
  assert.deepEqual(plain(out[0]), [1, new Map([["a", 1], ["b", 2]])]);
  assert.throws(() => d.push(enc("~3\r\n")), /\(maxAggregateLength\)/);
  // Maps and sets stay within what a JavaScript Map or Set can hold.
  const big = new RespDecoder({ onReply() {} }, {
    maxAggregateLength: 2 ** 30,
  });
  big.push(enc(`*${2 ** 25}\r\n`));
  assert.throws(() => big.push(enc(`%${2 ** 24 + 1}\r\n`)), RespProtocolError);
});

test("limits: nesting past maxDepth fails", () => {
  const nested = (depth: number) => "*1\r\n%1\r\n+k\r\n".repeat(depth / 2);
  assert.ok(Array.isArray(decodeOne(nested(1000) + ":1\r\n")));
  const d = noop();
  d.push(enc(nested(1000)));
  const error = protocolFailure(d, enc("~0\r\n"));
  assert.match(error.message, /nested deeper than 1000 \(maxDepth\)/);
  const three = new RespDecoder({ onReply() {} }, { maxDepth: 3 });
  three.push(enc("*1\r\n*1\r\n*1\r\n:1\r\n"));
  assert.throws(() => three.push(enc(">1\r\n*1\r\n|1\r\n*0\r\n")), /maxDepth/);
});

test("limits: error messages quote at most 100 bytes of a bad line", () => {
  const long = "x\u001b[31m" + "9".repeat(60_000);
  for (
    const input of [`,${long}\r\n`, `(${long}\r\n`, `:${long.slice(0, 39)}\r\n`]
  ) {
    const error = protocolFailure(noop(), enc(input));
    assert.ok(error.message.length < 200, error.message);
    assert.ok(!error.message.includes("\u001b"), error.message);
  }
  const error = protocolFailure(noop(), enc(`,${long}\r\n`));
  assert.match(error.message, /\.\.\." \(60006 bytes\)$/);
  assert.match(
    protocolFailure(noop(), enc("$12ab\r\n")).message,
    /bad length "12ab"/,
  );
});

test("limits: limits must be integers in 1..2^32-1", () => {
  for (const bad of [0, -1, 1.5, NaN, 2 ** 32, Infinity]) {
    for (
      const key of [
        "maxBulkBytes",
        "maxLineBytes",
        "maxAggregateLength",
        "maxDepth",
      ]
    ) {
      assert.throws(
        () => new RespDecoder({ onReply() {} }, { [key]: bad }),
        RangeError,
        `${key}: ${bad}`,
      );
    }
  }
});

// ---------------------------------------------------------------------------
// Round trip with a test-side RESP3 encoder
// ---------------------------------------------------------------------------

type Model =
  | { t: "str"; v: string }
  | { t: "simple"; v: string }
  | { t: "err"; v: string }
  | { t: "int"; v: number | bigint }
  | { t: "double"; v: number }
  | { t: "big"; v: bigint }
  | { t: "bool"; v: boolean }
  | { t: "null" }
  | { t: "verbatim"; v: string }
  | { t: "array"; v: Model[] }
  | { t: "map"; v: [string, Model][] }
  | { t: "set"; v: (string | number)[] };

function encodeModel(m: Model, out: Uint8Array[]): void {
  switch (m.t) {
    case "str": {
      const b = enc(m.v);
      out.push(enc(`$${b.length}\r\n`), b, enc("\r\n"));
      return;
    }
    case "verbatim": {
      const b = enc("txt:" + m.v);
      out.push(enc(`=${b.length}\r\n`), b, enc("\r\n"));
      return;
    }
    case "simple":
      out.push(enc(`+${m.v}\r\n`));
      return;
    case "err":
      out.push(enc(`-${m.v}\r\n`));
      return;
    case "int":
      out.push(enc(`:${m.v}\r\n`));
      return;
    case "double": {
      const v = m.v;
      const s = Number.isNaN(v)
        ? "nan"
        : v === Infinity
        ? "inf"
        : v === -Infinity
        ? "-inf"
        : String(v);
      out.push(enc(`,${s}\r\n`));
      return;
    }
    case "big":
      out.push(enc(`(${m.v}\r\n`));
      return;
    case "bool":
      out.push(enc(m.v ? "#t\r\n" : "#f\r\n"));
      return;
    case "null":
      out.push(enc("_\r\n"));
      return;
    case "array":
      out.push(enc(`*${m.v.length}\r\n`));
      for (const x of m.v) encodeModel(x, out);
      return;
    case "map":
      out.push(enc(`%${m.v.length}\r\n`));
      for (const [k, x] of m.v) {
        encodeModel({ t: "str", v: k }, out);
        encodeModel(x, out);
      }
      return;
    case "set":
      out.push(enc(`~${m.v.length}\r\n`));
      for (const x of m.v) {
        encodeModel(
          typeof x === "string" ? { t: "str", v: x } : { t: "int", v: x },
          out,
        );
      }
      return;
  }
}

function expected(m: Model): Plain {
  switch (m.t) {
    case "str":
    case "simple":
    case "verbatim":
      return m.v;
    case "err":
      return { err: m.v, code: m.v.split(" ")[0] };
    case "int":
      return typeof m.v === "bigint" && Number.isSafeInteger(Number(m.v))
        ? Number(m.v)
        : m.v;
    case "double":
    case "big":
    case "bool":
      return m.v;
    case "null":
      return null;
    case "array":
      return m.v.map(expected);
    case "map":
      return new Map(m.v.map(([k, x]) => [k, expected(x)]));
    case "set":
      return new Set(m.v);
  }
}

function randomModel(rand: () => number, depth: number): Model {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const str = (): string => {
    const n = Math.floor(rand() * (rand() < 0.1 ? 200 : 12));
    let s = "";
    for (let i = 0; i < n; i++) {
      s += pick(["a", "Z", "0", " ", "é", "€", "😀", "\r", "\n", ":", "$"]);
    }
    return s;
  };
  const line = (): string => str().replace(/[\r\n]/g, "_");
  const kinds = depth > 0
    ? [
      "str",
      "simple",
      "err",
      "int",
      "double",
      "big",
      "bool",
      "null",
      "verbatim",
      "array",
      "map",
      "set",
    ]
    : [
      "str",
      "simple",
      "err",
      "int",
      "double",
      "big",
      "bool",
      "null",
      "verbatim",
    ];
  switch (pick(kinds)) {
    case "str":
      return { t: "str", v: str() };
    case "simple":
      return { t: "simple", v: line() };
    case "err":
      return {
        t: "err",
        v: pick(["ERR", "WRONGTYPE", "NOSCRIPT"]) + " " + line(),
      };
    case "int": {
      const r = rand();
      if (r < 0.3) return { t: "int", v: Math.floor((rand() - 0.5) * 2000) };
      if (r < 0.6) return { t: "int", v: Math.floor((rand() - 0.5) * 2 ** 53) };
      const b = BigInt(Math.floor(rand() * 2 ** 52)) *
        2n ** BigInt(Math.floor(rand() * 20));
      return { t: "int", v: rand() < 0.5 ? -b : b };
    }
    case "double":
      return {
        t: "double",
        v: pick([
          Infinity,
          -Infinity,
          NaN,
          0.5,
          -1e-300,
          1e21,
          3,
          (rand() - 0.5) * 1e6,
          rand() * 1e-10,
        ]),
      };
    case "big":
      return {
        t: "big",
        v: BigInt(Math.floor((rand() - 0.5) * 2 ** 50)) * 10n ** 20n,
      };
    case "bool":
      return { t: "bool", v: rand() < 0.5 };
    case "null":
      return { t: "null" };
    case "verbatim":
      return { t: "verbatim", v: str() };
    case "array": {
      const n = Math.floor(rand() * 5);
      return {
        t: "array",
        v: Array.from({ length: n }, () => randomModel(rand, depth - 1)),
      };
    }
    case "map": {
      const n = Math.floor(rand() * 4);
      const keys = [...new Set(Array.from({ length: n }, () => line()))];
      return {
        t: "map",
        v: keys.map((k) => [k, randomModel(rand, depth - 1)]),
      };
    }
    default: {
      const n = Math.floor(rand() * 4);
      const xs = Array.from(
        { length: n },
        () => rand() < 0.5 ? line() : Math.floor(rand() * 100),
      );
      return { t: "set", v: [...new Set(xs)] };
    }
  }
}

test("round trip: random nested values decode equal", () => {
  const rand = mulberry32(42);
  for (let iter = 0; iter < 300; iter++) {
    const models = Array.from(
      { length: 1 + Math.floor(rand() * 5) },
      () => randomModel(rand, 4),
    );
    const parts: Uint8Array[] = [];
    for (const m of models) encodeModel(m, parts);
    const bytes = concat(...parts);
    const want = models.map(expected);
    // Whole, then randomly split.
    assert.deepEqual(decodeAll(bytes).map(plain), want, `iteration ${iter}`);
    const got: RedisReply[] = [];
    const d = new RespDecoder({ onReply: (r) => got.push(r) });
    let pos = 0;
    while (pos < bytes.length) {
      const n = Math.floor(rand() * 40);
      d.push(bytes.subarray(pos, pos + n));
      pos += n;
    }
    assert.deepEqual(got.map(plain), want, `iteration ${iter} (split)`);
  }
});

test("round trip: encodeCommand output decodes as an array of strings", () => {
  const args = ["SET", "clé", "€😀", "", "x".repeat(100)];
  assert.deepEqual(decodeOne(encodeCommand(args)), args);
  assert.deepEqual(decodeOne(encodeCommand([1, -2n, 2.5])), ["1", "-2", "2.5"]);
});

// ---------------------------------------------------------------------------
// Fuzzing
// ---------------------------------------------------------------------------

/** A canonical text form of a reply, cheap to compare. */
function show(v: RedisReply): string {
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "boolean") return String(v);
  if (v instanceof Uint8Array) return `b[${v.join()}]`;
  if (v instanceof RedisReplyError) return `err${JSON.stringify(v.message)}`;
  if (Array.isArray(v)) return `[${v.map(show).join()}]`;
  if (v instanceof Map) {
    return `{${[...v].map(([k, x]) => `${show(k)}=>${show(x)}`).join()}}`;
  }
  return `~{${[...v].map(show).join()}}`;
}

/** What decoding `chunks` gives: replies and pushes in order, then how it ended. */
function outcome(
  chunks: Uint8Array[],
  limits: RespLimits | undefined,
  bytesEvery: number,
): string {
  const events: string[] = [];
  let asked = 0;
  const d = new RespDecoder({
    onReply: (r) => events.push(show(r)),
    onPush: (p) => events.push(`>${show(p)}`),
    bytesForNext: () => ++asked % bytesEvery === 0,
  }, limits);
  try {
    for (const chunk of chunks) d.push(chunk);
  } catch (error) {
    if (!(error instanceof RespProtocolError)) throw error;
    events.push("RespProtocolError");
  }
  return events.join("\n");
}

const FUZZ_BYTES = enc("+-:$*%~>|_#,(!=\r\n\r\n0123456789-.tfinaé");
const TIGHT: RespLimits = {
  maxBulkBytes: 40,
  maxLineBytes: 24,
  maxAggregateLength: 3,
  maxDepth: 2,
};

/** Changes `bytes` a few times: a byte replaced, cut, inserted or doubled. */
function mutate(bytes: Uint8Array, rand: () => number): Uint8Array {
  let b = bytes;
  const edits = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(rand() * (b.length + 1));
    const r = rand();
    const byte = rand() < 0.8
      ? FUZZ_BYTES[Math.floor(rand() * FUZZ_BYTES.length)]
      : Math.floor(rand() * 256);
    if (r < 0.4 && at < b.length) {
      b = b.slice();
      b[at] = byte;
    } else if (r < 0.6) {
      b = concat(b.subarray(0, at), new Uint8Array([byte]), b.subarray(at));
    } else if (r < 0.8) {
      b = concat(
        b.subarray(0, at),
        b.subarray(at + 1 + Math.floor(rand() * 8)),
      );
    } else if (r < 0.9) {
      b = b.subarray(0, at);
    } else {
      b = concat(b.subarray(0, at), b.subarray(Math.floor(rand() * b.length)));
    }
  }
  return b;
}

/** `bytes` cut at random points (views: the decoder copies what it keeps). */
function randomSplit(bytes: Uint8Array, rand: () => number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const max = rand() < 0.2 ? 2 : 1 + Math.floor(rand() * 24);
  for (let pos = 0; pos < bytes.length;) {
    const n = Math.floor(rand() * (max + 1));
    chunks.push(bytes.subarray(pos, pos + n));
    pos += n;
  }
  return chunks;
}

test("fuzz: 100,000 inputs throw only RespProtocolError, and splits never change the result", () => {
  // `deno task fuzz` runs millions: FUZZ_INPUTS (and FUZZ_SEED) set it.
  const inputs = Number(process.env.FUZZ_INPUTS ?? 100_000);
  const seed = Number(process.env.FUZZ_SEED ?? 0x5eed);
  const rand = mulberry32(seed);
  // Valid replies, from the round-trip generator, several per input.
  const pool: Uint8Array[] = [];
  for (let i = 0; i < 2_000; i++) {
    const parts: Uint8Array[] = [];
    const count = 1 + Math.floor(rand() * 3);
    for (let j = 0; j < count; j++) encodeModel(randomModel(rand, 2), parts);
    pool.push(concat(...parts));
  }
  const started = performance.now();
  const budgetMs = process.env.FUZZ_INPUTS ? Infinity : 4_000;
  let done = 0;
  for (; done < inputs; done++) {
    if ((done & 1023) === 0 && performance.now() - started > budgetMs) break;
    const r = rand();
    const valid = r < 0.3;
    let input: Uint8Array;
    if (valid) input = pool[Math.floor(rand() * pool.length)];
    else if (r < 0.9) {
      input = mutate(pool[Math.floor(rand() * pool.length)], rand);
    } else {
      input = new Uint8Array(Math.floor(rand() * 40));
      for (let i = 0; i < input.length; i++) {
        input[i] = FUZZ_BYTES[Math.floor(rand() * FUZZ_BYTES.length)];
      }
    }
    const limits = rand() < 0.5 ? undefined : TIGHT;
    const bytesEvery = 1 + Math.floor(rand() * 3);
    const where = () =>
      `input ${done} (seed ${seed}): ${JSON.stringify(td.decode(input))}`;
    let whole: string;
    let split: string;
    try {
      whole = outcome([input], limits, bytesEvery);
      split = outcome(randomSplit(input, rand), limits, bytesEvery);
    } catch (error) {
      assert.fail(`${where()} threw ${error}`);
    }
    assert.equal(split, whole, where());
    if (valid && limits === undefined) {
      assert.ok(!whole.endsWith("RespProtocolError"), where());
    }
  }
  assert.ok(done >= 10_000, `only ${done} inputs in ${budgetMs} ms`);
});
