/**
 * A bare pub/sub subscriber, for the `PUBLISH` -> `SUBSCRIBE` floor: one
 * connection (through a {@linkcode Connector}, so that a tracer can stamp
 * it), `SUBSCRIBE`d to one channel, that resolves a promise per message.
 * Our client does not subscribe (its wake hub does, inside), so the floor
 * reads RESP2 here, with the least work: it is the mechanism of our wake-ups
 * without the hub.
 *
 * @module
 */
import {
  type Connector,
  defaultConnector,
  type Transport,
} from "../../src/transport/mod.ts";

/** One RESP2 frame: a simple string, error, integer, bulk string or array. */
type Frame = string | number | null | Error | Frame[];

/**
 * Parses the RESP2 frame of `text` at `at`; `undefined`: incomplete. Bulk
 * lengths are taken as characters: the channel and the messages are ASCII.
 */
function parseFrame(
  text: string,
  at: number,
): { frame: Frame; next: number } | undefined {
  const eol = text.indexOf("\r\n", at);
  if (eol < 0) return undefined;
  const head = text[at];
  const line = text.slice(at + 1, eol);
  const next = eol + 2;
  if (head === "+") return { frame: line, next };
  if (head === "-") return { frame: new Error(line), next };
  if (head === ":") return { frame: Number(line), next };
  if (head === "$") {
    const length = Number(line);
    if (length < 0) return { frame: null, next };
    if (text.length < next + length + 2) return undefined;
    return { frame: text.slice(next, next + length), next: next + length + 2 };
  }
  if (head === "*") {
    const items: Frame[] = [];
    let from = next;
    for (let i = 0; i < Number(line); i++) {
      const item = parseFrame(text, from);
      if (item === undefined) return undefined;
      items.push(item.frame);
      from = item.next;
    }
    return { frame: items, next: from };
  }
  throw new Error(`subscriber: unexpected RESP type '${head}'`);
}

/** One RESP2 command (an array of bulk strings; ASCII arguments only). */
function encode(args: readonly string[]): Uint8Array {
  return new TextEncoder().encode(
    `*${args.length}\r\n${
      args.map((a) => `$${a.length}\r\n${a}\r\n`).join("")
    }`,
  );
}

/** Where `url` (`redis://` or `rediss://`) connects, and how it logs in. */
function endpoint(url: string) {
  const parsed = new URL(url);
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new Error(
      `the PUBLISH -> SUBSCRIBE floor needs a redis:// or rediss:// URL, not ${parsed.protocol}//`,
    );
  }
  return {
    hostname: parsed.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    port: parsed.port === "" ? 6379 : Number(parsed.port),
    tls: parsed.protocol === "rediss:" ? {} : undefined,
    username: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
  };
}

/** A connection subscribed to one channel; {@linkcode next} per message. */
export class RawSubscriber {
  readonly channel: string;
  #transport: Transport | undefined;
  #text = "";
  readonly #decoder = new TextDecoder();
  /** Answers to the commands sent (AUTH, SUBSCRIBE), in order. */
  readonly #answers: ((frame: Frame) => void)[] = [];
  /** Messages that arrived before anyone waited: their arrival times. */
  readonly #early: number[] = [];
  readonly #waiting: (() => void)[] = [];
  #closed: Error | undefined;

  private constructor(channel: string) {
    this.channel = channel;
  }

  /**
   * Connects to `url` through `connector` (logs in with the URL's password,
   * if any) and subscribes to `channel`; resolves once the server confirmed.
   */
  static async open(
    url: string,
    channel: string,
    connector: Connector = defaultConnector(),
  ): Promise<RawSubscriber> {
    const where = endpoint(url);
    const sub = new RawSubscriber(channel);
    sub.#transport = await connector(
      {
        hostname: where.hostname,
        port: where.port,
        tls: where.tls,
        signal: AbortSignal.timeout(10_000),
      },
      {
        onData: (chunk) => sub.#onData(chunk),
        onClose: (error) => sub.#fail(error ?? new Error("closed")),
      },
    );
    try {
      if (where.password !== "") {
        const auth = where.username === ""
          ? ["AUTH", where.password]
          : ["AUTH", where.username, where.password];
        const answer = await sub.#command(auth);
        if (answer instanceof Error) throw answer;
      }
      const answer = await sub.#command(["SUBSCRIBE", channel]);
      if (!Array.isArray(answer) || answer[0] !== "subscribe") {
        throw new Error(`subscriber: SUBSCRIBE answered ${String(answer)}`);
      }
      return sub;
    } catch (error) {
      sub.close();
      throw error;
    }
  }

  /**
   * `performance.now()` when the next message has arrived whole (taken in
   * a promise callback, as a client's reply would be).
   */
  next(): Promise<number> {
    const early = this.#early.shift();
    if (early !== undefined) return Promise.resolve(early);
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise<void>((resolve) => this.#waiting.push(resolve)).then(
      () => {
        if (this.#closed) throw this.#closed;
        return performance.now();
      },
    );
  }

  close(): void {
    this.#fail(new Error("subscriber closed"));
    this.#transport?.close();
    this.#transport = undefined;
  }

  #command(args: string[]): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      if (this.#closed || !this.#transport) {
        reject(this.#closed ?? new Error("subscriber closed"));
        return;
      }
      this.#answers.push(resolve);
      this.#transport.write(encode(args));
    });
  }

  #onData(chunk: Uint8Array): void {
    this.#text += this.#decoder.decode(chunk, { stream: true });
    let at = 0;
    for (;;) {
      const parsed = parseFrame(this.#text, at);
      if (parsed === undefined) break;
      at = parsed.next;
      const frame = parsed.frame;
      if (Array.isArray(frame) && frame[0] === "message") {
        const waiter = this.#waiting.shift();
        if (waiter) waiter();
        else this.#early.push(performance.now());
      } else this.#answers.shift()?.(frame);
    }
    this.#text = this.#text.slice(at);
  }

  #fail(error: Error): void {
    if (this.#closed) return;
    this.#closed = error;
    for (const answer of this.#answers.splice(0)) answer(error);
    for (const waiter of this.#waiting.splice(0)) waiter();
  }
}
