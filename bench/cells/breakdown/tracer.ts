/**
 * The tracing connector of the hand-off breakdown cell: it stamps every
 * `write()` and every chunk of data of a client's connections, and finds
 * the one its wake hub subscribes on.
 *
 * @module
 */
import {
  type Connector,
  defaultConnector,
} from "../../../src/transport/mod.ts";

/** When and on which connection the client wrote or got data. */
interface TraceEvent {
  at: number;
  connection: number;
  read: boolean;
}

/** Writes of a connection searched for a `SUBSCRIBE` (its first ones). */
const SCANNED_WRITES = 16;

/**
 * A connector that stamps each `write()` and each chunk of data with
 * `performance.now()` and the index of its connection (in opening order:
 * 0 is a client's main connection, 1 its wake hub's subscriber).
 */
export class Tracer {
  opened = 0;
  /** The last connection that wrote a `SUBSCRIBE` (the hub's), or -1. */
  hub = -1;
  #events: TraceEvent[] = [];
  readonly connector: Connector = async (options, handlers) => {
    const connection = this.opened++;
    let scanned = 0;
    const inner = await defaultConnector()(options, {
      onData: (chunk) => {
        this.#events.push({ at: performance.now(), connection, read: true });
        handlers.onData(chunk);
      },
      onClose: (error) => handlers.onClose(error),
    });
    return {
      write: (bytes) => {
        this.#events.push({ at: performance.now(), connection, read: false });
        inner.write(bytes);
        // After the write, and only the first few of each connection (the
        // hub subscribes as soon as its first waiter listens): no cost on
        // the measured writes.
        if (scanned < SCANNED_WRITES) {
          scanned++;
          if (/SUBSCRIBE\r\n/i.test(new TextDecoder().decode(bytes))) {
            this.hub = connection;
          }
        }
      },
      close: () => inner.close(),
      destroy: inner.destroy ? () => inner.destroy!() : undefined,
    };
  };

  /** The connection opened last (the floor client's blocking one). */
  get last(): number {
    return this.opened - 1;
  }

  reset(): void {
    this.#events = [];
  }

  /** The first write (or data, `read`) on `connection` at or after `from`. */
  first(connection: number, read: boolean, from: number): number {
    const event = this.#events.find((e) =>
      e.connection === connection && e.read === read && e.at >= from
    );
    return event?.at ?? NaN;
  }
}
