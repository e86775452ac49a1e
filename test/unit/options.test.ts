import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { autoreconnect } from '../../src';
import { resolveOptions, validateQueryOption } from '../../src/core/options';

describe('options', () => {
  it('fills documented defaults when nothing is given', () => {
    assert.deepEqual(resolveOptions(undefined), {
      retries: 1,
      backoff: { baseMs: 100, maxMs: 2000 },
      deadlineMs: 10_000,
      retryWrites: 'unsent',
      hygiene: {
        validateIdleMs: 500,
        validateTimeoutMs: 1000,
        sweep: true,
        maxLifetimeMs: 1_800_000,
        connectTimeoutMs: 5000,
        silenceMs: 2000,
      },
      replayTransactions: false,
      replayConflicts: false,
    });
  });

  it('keeps given values and fills the rest', () => {
    const o = resolveOptions({ retries: 5, backoff: { baseMs: 10 }, retryWrites: 'always' });
    assert.equal(o.retries, 5);
    assert.deepEqual(o.backoff, { baseMs: 10, maxMs: 2000 });
    assert.equal(o.deadlineMs, 10_000);
    assert.equal(o.retryWrites, 'always');
  });

  it('raises maxMs to baseMs when only a large baseMs is given', () => {
    assert.deepEqual(resolveOptions({ backoff: { baseMs: 5000 } }).backoff, { baseMs: 5000, maxMs: 5000 });
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['a typo, with a suggestion', { retires: 3 }, /unknown option `retires` \(did you mean `retries`\?\)/],
    ['an unknown nested key', { backoff: { base: 1 } }, /unknown option `backoff.base` \(did you mean `backoff.baseMs`\?\)/],
    ['a key far from any', { colour: 'red' }, /unknown option `colour`; known options/],
    ['a string for a number', { retries: '3' }, /`retries` must be a number, got '3'/],
    ['a fraction of a retry', { retries: 1.5 }, /`retries` must be a whole number/],
    ['a negative number', { retries: -1 }, /`retries` must be between 0 and 1000/],
    ['NaN', { deadlineMs: Number.NaN }, /`deadlineMs` must be a number/],
    ['a zero deadline', { deadlineMs: 0 }, /`deadlineMs` must be between 1 and/],
    ['an infinite delay', { backoff: { maxMs: Infinity } }, /`backoff.maxMs` must be between/],
    [
      'maxMs below baseMs',
      { backoff: { baseMs: 500, maxMs: 100 } },
      /`backoff.maxMs` \(100\) must not be smaller than `backoff.baseMs` \(500\)/,
    ],
    [
      'an unknown retryWrites value',
      { retryWrites: 'sometimes' },
      /`retryWrites` must be one of 'unsent', 'verified', 'always', 'never', got 'sometimes'/,
    ],
    ['a non-object', 3, /`options` must be an object, got 3/],
    ['an array', [], /`options` must be an object, got an array/],
    ['a null backoff', { backoff: null }, /`backoff` must be an object, got null/],
    [
      'replayTransactions with no retries to replay within',
      { replayTransactions: true, retries: 0 },
      /option `replayTransactions` replays within the plugin's `retries`, which is 0: set `retries` to 1 or more/,
    ],
    ['replayConflicts with no retries to replay within', { replayConflicts: true, retries: 0 }, /option `replayConflicts` replays within/],
    [
      "replayTransactions under retryWrites: 'never'",
      { replayTransactions: true, retryWrites: 'never' },
      /option `replayTransactions` runs lost writes again, which the plugin's `retryWrites: 'never'` forbids: drop one of the two/,
    ],
  ];
  for (const [what, input, message] of bad) {
    it(`rejects ${what} with a TypeError naming the option, at autoreconnect() time`, () => {
      assert.throws(
        () => autoreconnect(input as never),
        (e: unknown) => e instanceof TypeError && message.test(e.message),
      );
    });
  }

  it("accepts replayConflicts under retryWrites: 'never' (a conflict was rolled back, not lost)", () => {
    assert.equal(resolveOptions({ replayConflicts: true, retryWrites: 'never' }).replayConflicts, true);
  });

  it('rejects a per-call `reconnect: true`, saying to pass an object or false', () => {
    assert.throws(
      () => validateQueryOption(true),
      (e: unknown) => e instanceof TypeError && /`reconnect` takes an object such as \{ retries: 3 \}.*or false.*got true/.test(e.message),
    );
    assert.equal(validateQueryOption(false), false);
    assert.deepEqual(validateQueryOption({ retries: 2 }), { retries: 2, idempotent: undefined, retryWrites: undefined });
  });
});
