/**
 * The tracing connector of the hand-off breakdown cell: it stamps every
 * `write()` and every chunk of data of a client's connections.
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

/**
 * A connector that stamps each `write()` and each chunk of data with
 * `performance.now()` and the index of its connection (in opening order:
 * 0 is a client's main connection).
 */
export class Tracer {
  opened = 0;
  #events: TraceEvent[] = [];
  readonly connector: Connector = async (options, handlers) => {
    const connection = this.opened++;
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
      },
      close: () => inner.close(),
      destroy: inner.destroy ? () => inner.destroy!() : undefined,
    };
  };

  /** The connection opened last (a client's wake hub, or blocking one). */
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
