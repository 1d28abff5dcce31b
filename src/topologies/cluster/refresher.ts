/**
 * When the slot map is read again: soon after a redirect or a lost
 * connection (at most once per `REFRESH_GAP_MS`, one read at a time, and
 * once more if asked during a read), and whenever asked by the periodic
 * check of the topology.
 *
 * @module
 */

/** Shortest time between two slot-map reads, in milliseconds. */
const REFRESH_GAP_MS = 200;

/** Debounced slot-map reads. */
export class Refresher {
  readonly #read: () => Promise<void>;
  #running: Promise<void> | undefined;
  #again = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = -Infinity;
  #stopped = false;

  /** `read`: reads and applies the map; never rejects. */
  constructor(read: () => Promise<void>) {
    this.#read = read;
  }

  /** Milliseconds since the last read ended. */
  get age(): number {
    return performance.now() - this.#last;
  }

  /** A read soon; asking again meanwhile changes nothing. */
  soon(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    const wait = this.#last + REFRESH_GAP_MS - performance.now();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.now();
    }, Math.max(0, wait));
  }

  /** A read now (or the one running). */
  now(): Promise<void> {
    return this.#running ??= this.#read().finally(() => {
      this.#last = performance.now();
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.soon();
      }
    });
  }

  /** No more reads; resolves when the running one ends. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
