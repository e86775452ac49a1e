import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AcquireOptions, Connection } from '../../src/engine/port';
import { fail, harness } from './support/fake-host';

const SLOW = { retries: 10, backoff: { baseMs: 500, maxMs: 2000 } };

describe('the scout: sleepers in a connect backoff go as soon as the server answers', () => {
  it('wakes every sleeper at its first success, with never more than one attempt in flight, counting none of its own', async () => {
    const T = () => fail('transient', 'refused');
    // Three first attempts refused; then the scout's: two refused, one answered; then the sleepers'.
    const h = harness(SLOW, { connects: [T(), T(), T(), T(), T(), 'ok', 'ok', 'ok', 'ok'] }, () => 0.9, { scoutMs: 15 });
    const mine = [{}, {}, {}];
    const acquireOnce = h.engine.host.acquireOnce;
    let inFlight = 0;
    let maxInFlight = 0;
    let scoutAttempts = 0;
    // Each scout attempt takes 40 ms of virtual time, longer than the interval.
    h.engine.host.acquireOnce = (options: AcquireOptions) => {
      if (mine.includes(options)) return acquireOnce(options);
      scoutAttempts++;
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      return new Promise<Connection>((resolve, reject) => {
        h.engine.clock.setTimer(() => {
          inFlight--;
          acquireOnce(options).then(resolve, reject);
        }, 40);
      });
    };
    const started = h.now();
    await Promise.all(mine.map((options) => h.facade.acquire(options)));
    const took = h.now() - started;
    // Without the scout each would sleep 0.9 × 500 = 450 ms.
    assert.ok(took < 200, `took ${took} ms`);
    assert.equal(scoutAttempts, 3);
    assert.equal(maxInFlight, 1);
    const stats = h.engine.stats.snapshot();
    assert.deepEqual([stats.retries, stats.connectFailures, stats.reconnectFailures], [3, 3, 0], 'the scout is no one’s retry');
    assert.equal(h.hooks.filter((x) => x.startsWith('before')).length, 3, 'the scout runs no hooks');
    assert.equal(h.engine.scout.busy, false, 'nothing left scheduled once nobody sleeps');
  });

  it('does not run while nobody sleeps, nor after close()', async () => {
    const h = harness(SLOW, { connects: ['ok', fail('transient')] }, () => 0.9, { scoutMs: 15 });
    await h.facade.acquire({});
    assert.equal(h.acquired.length, 1, 'a success path makes no scout attempt');
    assert.equal(h.engine.scout.busy, false);
    const sleeping = h.facade.acquire({}).catch((error: unknown) => error);
    while (h.engine.scout.sleepers === 0) await new Promise((resolve) => setImmediate(resolve));
    // close() as patch-pool does it, before the scout's first timer fires.
    h.engine.closed = true;
    h.engine.backoffs.wakeAll();
    assert.match(String(await sleeping), /closed/);
    const attempts = h.acquired.length;
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(h.acquired.length, attempts, 'no attempt after close()');
    assert.equal(h.engine.scout.sleepers, 0);
  });
});
