import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay } from '../../src/core/backoff';
import { budgetAllows, statementRetryable } from '../../src/core/decide';
import { newOperation, remainingMs } from '../../src/engine/operation';

describe('backoff', () => {
  const b = { baseMs: 100, maxMs: 1000 };
  it('replaces a stale connection at once on the first retry', () => {
    assert.equal(backoffDelay(1, b, true, 0.99), 0);
    assert.equal(backoffDelay(2, b, true, 0.5), 100);
  });
  it('grows exponentially with full jitter up to maxMs', () => {
    assert.equal(backoffDelay(1, b, false, 0.999), 99);
    assert.equal(backoffDelay(3, b, false, 0.5), 200);
    assert.equal(backoffDelay(10, b, false, 0.5), 500);
    assert.equal(backoffDelay(60, b, false, 0.999), 999);
    assert.equal(backoffDelay(4, b, false, 0), 0);
  });
});

describe('which statements may be retried after a lost connection', () => {
  const base = { mayHaveRun: true, commitUnknown: false, isRead: false, idempotent: false, retryWrites: 'unsent' } as const;
  it('retries reads even if they reached the server', () => {
    assert.equal(statementRetryable({ ...base, isRead: true }), true);
  });
  it('does not retry a write that may have run, by default', () => {
    assert.equal(statementRetryable(base), 'write-may-have-executed');
  });
  it('retries a write that never left the client', () => {
    assert.equal(statementRetryable({ ...base, mayHaveRun: false }), true);
  });
  it('retries a write marked idempotent, or any write with retryWrites: always', () => {
    assert.equal(statementRetryable({ ...base, idempotent: true }), true);
    assert.equal(statementRetryable({ ...base, retryWrites: 'always' }), true);
  });
  it('retries no write with retryWrites: never, sent or not', () => {
    assert.equal(statementRetryable({ ...base, mayHaveRun: false, retryWrites: 'never' }), 'writes-not-retried');
  });
});

describe('retry budget', () => {
  it('allows retries until the count or the deadline runs out', () => {
    const at = (retriesMade: number, retries: number, now = 5990, firstFailureAt = 5000) => ({
      spent: { retriesMade, firstFailureAt },
      limits: { retries, deadlineMs: 1000 },
      now,
    });
    assert.equal(budgetAllows(at(0, 1)), true);
    assert.equal(budgetAllows(at(1, 1)), 'retries-exhausted');
    assert.equal(budgetAllows(at(0, 3, 6000)), 'deadline-exceeded');
    assert.equal(budgetAllows(at(0, 0)), 'retry-disabled');
    // Before the first failure the whole deadline is left.
    assert.equal(budgetAllows(at(0, 1, 99_999, 0)), true);
  });
  it('counts the deadline from the first failure of the operation', () => {
    const op = newOperation();
    assert.equal(remainingMs(op, 1000, 5000), 1000);
    assert.equal(remainingMs(op, 1000, 5600), 400);
    assert.equal(remainingMs(op, 1000, 7000), -1000);
  });
});
