import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { opened, released } from '../../src/engine/checkout';
import type { Connection } from '../../src/engine/port';
import { harness } from './support/fake-host';

/** A harness whose clock the test sets, counting reads. */
function clocked(options: Parameters<typeof harness>[0]) {
  const h = harness(options);
  const clock = { at: h.now(), reads: 0 };
  Object.assign(h.engine.clock, {
    now: () => {
      clock.reads++;
      return clock.at;
    },
  });
  const open = (id: string): Connection => {
    const connection = { id } as Connection;
    opened(h.engine, connection, h.engine.host.configOf('write'));
    return connection;
  };
  return { h, clock, open };
}

describe('checkout and release stamps (fake host)', () => {
  // random 0.5: a lifetime of 600 s less 5 % jitter, 570 s.
  const LIFETIME = { maxLifetimeMs: 600_000, validateIdleMs: false } as const;

  it('a release reads no clock while the end of life is far: the checkout stamped the use', () => {
    const { h, clock, open } = clocked(LIFETIME);
    const connection = open('far');
    assert.equal(h.facade.acquired({}, connection), connection);
    const reads = clock.reads;
    assert.equal(released(h.engine, connection), true);
    assert.equal(clock.reads, reads, 'the release read the clock');
  });

  it('near the end of life, a connection whose lifetime ran out in use is retired on release', () => {
    const { h, clock, open } = clocked(LIFETIME);
    const start = clock.at;
    const connection = open('near');
    clock.at = start + 560_000;
    assert.equal(h.facade.acquired({}, connection), connection);
    clock.at = start + 575_000;
    assert.equal(released(h.engine, connection), false);
    assert.equal(h.engine.stats.snapshot().retired, 1);
  });

  it('one checked out far from its end and returned after it is retired by the next checkout, never handed out', async () => {
    const { h, clock, open } = clocked(LIFETIME);
    const start = clock.at;
    const connection = open('long-statement');
    clock.at = start + 100_000;
    assert.equal(h.facade.acquired({}, connection), connection);
    clock.at = start + 600_000;
    assert.equal(released(h.engine, connection), true);
    const next = await h.facade.acquired({}, connection);
    assert.notEqual(next, connection);
    assert.equal(h.engine.stats.snapshot().retired, 1);
  });

  it('validates a connection last handed out validateIdleMs ago, counting from its checkout', async () => {
    const { h, clock, open } = clocked({ validateIdleMs: 500 });
    const connection = open('validated');
    assert.equal(h.facade.acquired({}, connection), connection);
    // A statement of 400 ms, then 100 ms idle: 500 ms since its checkout.
    clock.at += 400;
    released(h.engine, connection);
    clock.at += 100;
    await h.facade.acquired({}, connection);
    assert.equal(h.engine.stats.snapshot().validations, 1);
  });
});
