/**
 * A connector that counts the commands a client writes, on all of its
 * connections (main, blocking pool, wake hub's subscriber), by reading the
 * RESP it sends: what one client asked of Redis, which `INFO commandstats`
 * cannot tell apart from other clients' commands.
 *
 * @module
 */
import { type Connector, defaultConnector } from "../../src/transport/mod.ts";

/** Commands counted with their first argument, as `INFO commandstats` does. */
const CONTAINERS = new Set([
  "acl",
  "client",
  "cluster",
  "command",
  "config",
  "function",
  "memory",
  "object",
  "pubsub",
  "script",
  "xinfo",
]);

const CR = 13;
const STAR = 42;
const DOLLAR = 36;

/**
 * Reads the commands (RESP arrays of bulk strings) of one connection's
 * byte stream, however it is cut into writes, and reports each one's name.
 */
class RequestReader {
  #pending: Uint8Array = new Uint8Array(0);
  readonly #onCommand: (name: string) => void;

  constructor(onCommand: (name: string) => void) {
    this.#onCommand = onCommand;
  }

  push(bytes: Uint8Array): void {
    let data = bytes;
    if (this.#pending.length > 0) {
      data = new Uint8Array(this.#pending.length + bytes.length);
      data.set(this.#pending);
      data.set(bytes, this.#pending.length);
    }
    let at = 0;
    for (;;) {
      const end = this.#command(data, at);
      if (end < 0) break;
      at = end;
    }
    this.#pending = data.slice(at);
  }

  /** Reads one command at `at`: the index after it, or -1 if incomplete. */
  #command(data: Uint8Array, at: number): number {
    if (at >= data.length) return -1;
    if (data[at] !== STAR) {
      throw new Error(`command counter: not a RESP array at byte ${at}`);
    }
    const count = readLine(data, at + 1);
    if (count === undefined) return -1;
    let from = count.next;
    const words: string[] = [];
    for (let i = 0; i < count.value; i++) {
      if (from >= data.length) return -1;
      if (data[from] !== DOLLAR) {
        throw new Error(`command counter: not a bulk string at byte ${from}`);
      }
      const length = readLine(data, from + 1);
      if (length === undefined) return -1;
      const start = length.next;
      const end = start + length.value + 2;
      if (end > data.length) return -1;
      if (i < 2) {
        words.push(
          new TextDecoder().decode(data.subarray(start, start + length.value))
            .toLowerCase(),
        );
      }
      from = end;
    }
    const [name = "", sub] = words;
    this.#onCommand(
      CONTAINERS.has(name) && sub !== undefined ? `${name}|${sub}` : name,
    );
    return from;
  }
}

/** The integer of a line that starts at `at` and ends with CRLF. */
function readLine(
  data: Uint8Array,
  at: number,
): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = at; i + 1 < data.length; i++) {
    if (data[i] === CR) return { value, next: i + 2 };
    value = value * 10 + (data[i] - 48);
  }
  return undefined;
}

/** Counts, by name, the commands written through {@linkcode connector}. */
export class CommandCounter {
  /** Commands written since the last {@linkcode reset}, by name. */
  readonly counts = new Map<string, number>();
  /** A write that was not RESP commands (never expected): counts unknown. */
  #lost = false;

  /** Give this to `connect({ connector })`. */
  readonly connector: Connector = async (options, handlers) => {
    const inner = await defaultConnector()(options, handlers);
    const reader = new RequestReader((name) =>
      this.counts.set(name, (this.counts.get(name) ?? 0) + 1)
    );
    return {
      write: (bytes) => {
        inner.write(bytes);
        if (this.#lost) return;
        try {
          reader.push(bytes);
        } catch {
          this.#lost = true;
        }
      },
      close: () => inner.close(),
      destroy: inner.destroy ? () => inner.destroy!() : undefined,
    };
  };

  /** Every command written since the last reset (NaN: could not read). */
  get total(): number {
    if (this.#lost) return NaN;
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }

  /** `name count, ...`, most first; "none" when nothing was written. */
  text(): string {
    const entries = [...this.counts].sort((a, b) => b[1] - a[1]);
    return entries.length === 0
      ? "none"
      : entries.map(([name, n]) => `${name} ${n}`).join(", ");
  }

  reset(): void {
    this.counts.clear();
  }
}
