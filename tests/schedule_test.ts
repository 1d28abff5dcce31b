import assert from "node:assert/strict";
import { Schedule } from "../src/_internal/schedule.ts";
import { test } from "./_test.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("schedule: entries run in due order, never before their due time", async () => {
  const schedule = new Schedule();
  const ran: { name: string; late: number }[] = [];
  const start = performance.now();
  for (const [name, ms] of [["c", 30], ["a", 5], ["b", 15], ["a2", 5]]) {
    const due = start + (ms as number);
    schedule.at(
      due,
      () => ran.push({ name: name as string, late: performance.now() - due }),
    );
  }
  assert.equal(schedule.size, 4);
  // Generous: this proves they ran, not how fast.
  for (let i = 0; i < 200 && ran.length < 4; i++) await sleep(5);
  assert.deepEqual(ran.map((r) => r.name), ["a", "a2", "b", "c"]);
  for (const r of ran) {
    assert.ok(r.late >= 0, `${r.name} ran ${-r.late} ms early`);
  }
  assert.equal(schedule.size, 0);
});

test("schedule: a cancelled entry never runs, also when cancelled by another of the same moment", async () => {
  const schedule = new Schedule();
  const ran: string[] = [];
  const due = performance.now() + 5;
  const gone = schedule.at(due + 2, () => ran.push("gone"));
  schedule.cancel(gone);
  schedule.cancel(gone); // twice: nothing
  schedule.cancel(undefined);
  // Same slot: the first cancels the second before it runs.
  let second: ReturnType<Schedule["at"]> | undefined = undefined;
  schedule.at(due, () => {
    ran.push("first");
    schedule.cancel(second);
  });
  second = schedule.at(due, () => ran.push("second"));
  const last = schedule.at(due + 20, () => ran.push("last"));
  assert.equal(schedule.size, 3);
  for (let i = 0; i < 200 && !ran.includes("last"); i++) await sleep(5);
  assert.deepEqual(ran, ["first", "last"]);
  assert.equal(last.done, true);
  assert.equal(schedule.size, 0);
});

test("schedule: a callback may schedule another; a throwing one does not stop the rest", async () => {
  const uncaught: unknown[] = [];
  const schedule = new Schedule((error) => uncaught.push(error));
  const ran: string[] = [];
  const now = performance.now();
  schedule.at(now + 2, () => {
    throw new Error("boom");
  });
  schedule.at(now + 2, () => {
    ran.push("same moment");
    schedule.at(performance.now() + 3, () => ran.push("later"));
  });
  for (let i = 0; i < 200 && ran.length < 2; i++) await sleep(5);
  assert.deepEqual(ran, ["same moment", "later"]);
  assert.equal(uncaught.length, 1);
  assert.equal((uncaught[0] as Error).message, "boom");
  assert.equal(schedule.size, 0);
});

test("schedule: nothing left scheduled leaves no runtime timer (Deno's op sanitizer checks it)", () => {
  const schedule = new Schedule();
  const entries = Array.from(
    { length: 100 },
    (_, i) => schedule.at(performance.now() + 10_000 + i * 7.3, () => {}),
  );
  for (const entry of entries.reverse()) schedule.cancel(entry);
  assert.equal(schedule.size, 0);
});

test("schedule: an entry with slack runs with a timer armed later within its slack, never before its due time; one without moves the timer", async () => {
  const schedule = new Schedule();
  const ran: { name: string; at: number }[] = [];
  const start = performance.now();
  schedule.at(
    start + 60,
    () => ran.push({ name: "exact", at: performance.now() }),
  );
  // Due 40 ms before the armed timer, with 50 ms of slack: the runtime timer
  // is not moved; both run in the one callback, in due order.
  schedule.at(
    start + 20,
    () => ran.push({ name: "slack", at: performance.now() }),
    50,
  );
  for (let i = 0; i < 200 && ran.length < 2; i++) await sleep(5);
  assert.deepEqual(ran.map((r) => r.name), ["slack", "exact"]);
  assert.ok(
    ran[0].at >= start + 59,
    `ran at ${ran[0].at - start} ms, before the armed timer`,
  );
  // Without slack, an earlier entry moves the timer: it runs while the
  // later one still waits.
  const early: number[] = [];
  const t0 = performance.now();
  const later = schedule.at(t0 + 10_000, () => {});
  schedule.at(t0 + 10, () => early.push(performance.now() - t0));
  for (let i = 0; i < 200 && early.length < 1; i++) await sleep(5);
  assert.equal(early.length, 1);
  assert.ok(early[0] >= 10, `ran ${early[0]} ms after, before its due time`);
  assert.equal(schedule.size, 1);
  schedule.cancel(later); // no timer outlives the test
});
