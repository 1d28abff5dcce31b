import assert from "node:assert/strict";
import { AbortScope } from "../src/_internal/abort_scope.ts";
import { test } from "./_test.ts";

test("abort scope: each open() gets its own signal; abort() ends those still open, with its reason", () => {
  const scope = new AbortScope();
  const a = scope.open();
  const b = scope.open();
  assert.notEqual(a.signal, b.signal);
  b.done();
  const reason = new Error("disposed");
  scope.abort(reason);
  assert.equal(a.signal.aborted, true);
  assert.equal(a.signal.reason, reason);
  // Done before the abort: no longer the scope's to abort.
  assert.equal(b.signal.aborted, false);
  assert.equal(scope.aborted, true);
  assert.equal(scope.reason, reason);
  assert.throws(() => scope.open(), (error) => error === reason);
  scope.abort(new Error("again")); // the first reason stays
  assert.equal(scope.reason, reason);
});

test("abort scope: a user signal aborts its operation alone, with the user's reason", () => {
  const scope = new AbortScope();
  const user = new AbortController();
  const a = scope.open(user.signal);
  const b = scope.open(user.signal);
  const c = scope.open();
  user.abort(new Error("timeout"));
  assert.equal((a.signal.reason as Error).message, "timeout");
  assert.equal((b.signal.reason as Error).message, "timeout");
  assert.equal(c.signal.aborted, false);
  assert.throws(() => scope.open(user.signal), /timeout/);
  a.done();
  b.done();
  c.done();
});

test("abort scope: operations that share a user signal, before and after others end, each abort once it aborts, with its reason; ended ones do not", () => {
  const scope = new AbortScope();
  const other = new AbortScope();
  const user = new AbortController();
  // One after another on the same signal (as a caller's loop with one
  // timeout), then several at once, on two scopes.
  for (let i = 0; i < 100; i++) scope.open(user.signal).done();
  const ended = scope.open(user.signal);
  ended.done();
  const open = [
    scope.open(user.signal),
    other.open(user.signal),
    scope.open(user.signal),
  ];
  const reason = new Error("timeout");
  user.abort(reason);
  for (const op of open) {
    assert.equal(op.signal.aborted, true);
    assert.equal(op.signal.reason, reason);
    op.done();
  }
  assert.equal(ended.signal.aborted, false);
  assert.throws(() => scope.open(user.signal), (error) => error === reason);
  // A scope's own abort still reaches an operation that follows a signal.
  const second = new AbortController();
  const op = scope.open(second.signal);
  scope.abort(new Error("disposed"));
  assert.equal((op.signal.reason as Error).message, "disposed");
  op.done();
  second.abort(new Error("later"));
  assert.equal((op.signal.reason as Error).message, "disposed");
});
