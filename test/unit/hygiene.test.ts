import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkoutAction, retireAt, type ConnectionStamps, type PoolMarks } from '../../src/core/hygiene';
import { resolveOptions } from '../../src/core/options';

const hygiene = resolveOptions({ validateIdleMs: 500 }).hygiene;
const noMarks: PoolMarks = { sweptAt: 0, droppedAt: 0 };

function stamps(overrides: Partial<ConnectionStamps> = {}): ConnectionStamps {
  return { createdAt: 1000, checkedAt: 1000, usedAt: 1100, retireAt: Infinity, ...overrides };
}

describe('what to do with a pooled connection at checkout', () => {
  it('uses a connection reused soon after its last use', () => {
    assert.equal(checkoutAction(stamps(), noMarks, hygiene, 1500), 'use');
  });
  it('validates one idle for validateIdleMs or longer', () => {
    assert.equal(checkoutAction(stamps(), noMarks, hygiene, 1600), 'validate');
  });
  it('never validates when validateIdleMs is false, and always when it is 0', () => {
    assert.equal(checkoutAction(stamps(), noMarks, { ...hygiene, validateIdleMs: false }, 99_999), 'use');
    assert.equal(checkoutAction(stamps(), noMarks, { ...hygiene, validateIdleMs: 0 }, 1100), 'validate');
  });
  it('validates a connection never used yet once it has idled validateIdleMs since it opened (a pool min)', () => {
    assert.equal(checkoutAction(stamps({ usedAt: NaN }), noMarks, hygiene, 1400), 'use');
    assert.equal(checkoutAction(stamps({ usedAt: NaN }), noMarks, hygiene, 1501), 'validate');
  });
  it('uses a connection handed out the moment it opens, even with validateIdleMs 0', () => {
    assert.equal(checkoutAction(stamps({ usedAt: NaN }), noMarks, { ...hygiene, validateIdleMs: 0 }, 1000), 'use');
  });
  it('sweeps a connection never used yet that opened before a sibling was found dead', () => {
    assert.equal(
      checkoutAction(stamps({ usedAt: NaN }), { sweptAt: 1200, droppedAt: 0 }, { ...hygiene, validateIdleMs: false }, 1300),
      'validate',
    );
  });
  it('validates a connection last known alive before a sibling was found dead (sweep)', () => {
    assert.equal(checkoutAction(stamps(), { sweptAt: 1200, droppedAt: 0 }, hygiene, 1300), 'validate');
    assert.equal(checkoutAction(stamps({ checkedAt: 1250 }), { sweptAt: 1200, droppedAt: 0 }, hygiene, 1300), 'use');
    assert.equal(checkoutAction(stamps(), { sweptAt: 1200, droppedAt: 0 }, { ...hygiene, sweep: false }, 1300), 'use');
  });
  it('retires a connection past its lifetime, or opened before a failover was seen', () => {
    assert.equal(checkoutAction(stamps({ retireAt: 1300 }), noMarks, hygiene, 1300), 'retire');
    assert.equal(checkoutAction(stamps(), { sweptAt: 0, droppedAt: 1001 }, hygiene, 1200), 'retire');
    assert.equal(checkoutAction(stamps({ usedAt: NaN }), { sweptAt: 0, droppedAt: 1001 }, hygiene, 1200), 'retire');
  });
});

describe('max lifetime', () => {
  it('takes up to 10% off the lifetime at random, so connections opened together do not all close together', () => {
    assert.equal(retireAt(1000, 10_000, 0), 11_000);
    assert.equal(retireAt(1000, 10_000, 0.999), 10_001);
    assert.equal(retireAt(1000, false), Infinity);
  });
});

describe('pool hygiene options', () => {
  it('default to validating after 500 ms idle, a 1 s validation timeout, sweeping, a 30 minute lifetime and a 2 s silence watchdog', () => {
    assert.deepEqual(resolveOptions({}).hygiene, {
      validateIdleMs: 500,
      validateTimeoutMs: 1000,
      sweep: true,
      maxLifetimeMs: 1_800_000,
      connectTimeoutMs: 5000,
      silenceMs: 2000,
    });
  });
  it('accept false to turn validation or the lifetime off', () => {
    assert.deepEqual(resolveOptions({ validateIdleMs: false, maxLifetimeMs: false }).hygiene.validateIdleMs, false);
  });
  it('reject wrong types naming the option', () => {
    assert.throws(() => resolveOptions({ validateIdleMs: true }), /option `validateIdleMs` must be a number, got a boolean/);
    assert.throws(() => resolveOptions({ sweep: 'yes' }), /option `sweep` must be a boolean, got 'yes'/);
    assert.throws(() => resolveOptions({ maxLifetimeMs: 0 }), /option `maxLifetimeMs` must be between 1 and/);
    assert.throws(() => resolveOptions({ connectTimeoutMs: 0 }), /option `connectTimeoutMs` must be between 1 and/);
    assert.throws(() => resolveOptions({ connectTimeoutMs: '5s' }), /option `connectTimeoutMs` must be a number/);
    assert.equal(resolveOptions({ connectTimeoutMs: false }).hygiene.connectTimeoutMs, false);
    assert.throws(() => resolveOptions({ silenceMs: 0 }), /option `silenceMs` must be between 1 and/);
    assert.throws(() => resolveOptions({ silenceMs: true }), /option `silenceMs` must be a number, got a boolean/);
    assert.equal(resolveOptions({ silenceMs: false }).hygiene.silenceMs, false);
    assert.throws(() => resolveOptions({ validateTimeoutMs: -5 }), /option `validateTimeoutMs` must be between 1 and/);
  });
});
