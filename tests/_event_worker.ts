/**
 * A worker process for the event tests (run by Deno or Bun).
 *
 *   manual <url> <name>: prints {"ready":1} once registered, waits for the
 *     event, prints {"woken":1}.
 *   auto <url> <name> <stopKey>: takes signals with randomly aborted waits
 *     until <stopKey> exists and no signal is left; prints
 *     {"taken": n, "aborted": m, "late": waits resolved after their abort}.
 *
 * @module
 */
import process from "node:process";
import { AutoResetEvent, connect, ManualResetEvent } from "../mod.ts";

const [mode, url, name, stopKey] = process.argv.slice(2);
await using redis = await connect(url);

if (mode === "manual") {
  const event = new ManualResetEvent(redis, name);
  const waiting = event.wait(AbortSignal.timeout(30_000));
  console.log(JSON.stringify({ ready: 1 }));
  await waiting;
  console.log(JSON.stringify({ woken: 1 }));
} else {
  const event = new AutoResetEvent(redis, name);
  let taken = 0;
  let aborted = 0;
  let late = 0; // waits that resolved although their signal had aborted
  console.log(JSON.stringify({ ready: 1 }));
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    if (await redis.send("EXISTS", stopKey) === 1 && !await event.isSet()) {
      // An aborted wait rejects at once and gives back a signal it was
      // handed in the background: stop only once none has come back for a
      // while.
      await new Promise((resolve) => setTimeout(resolve, 200));
      if (!await event.isSet()) break;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.random() * 3);
    try {
      await event.wait(controller.signal);
      taken++;
      if (controller.signal.aborted) late++;
    } catch (error) {
      if ((error as Error).name !== "AbortError") throw error;
      aborted++;
    } finally {
      clearTimeout(timer);
    }
  }
  console.log(JSON.stringify({ taken, aborted, late }));
}
