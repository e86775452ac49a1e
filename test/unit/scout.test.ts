import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AcquireOptions, Connection, KnockResult } from '../../src/engine/port';
import { KNOCK_INTERVAL_MS } from '../../src/engine/scout';
import { fail, harness, type Answer } from './support/fake-host';

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

describe('the scout while nothing listens: it knocks, and logs in once a knock is taken', () => {
  const refused = () => Object.assign(fail('transient', 'connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  const LONG = { retries: 10, backoff: { baseMs: 2000, maxMs: 2000 } };

  /** One sleeper; the scout's knocks and logins, by virtual time since the start. */
  function scouted(knocks: (n: number, at: number) => KnockResult, connects: Answer[]) {
    const h = harness(LONG, { connects: [refused(), ...connects, 'ok'] }, () => 0.9, { scoutMs: 15 });
    const mine = {};
    const started = h.now();
    const knockedAt: number[] = [];
    const loginsAt: number[] = [];
    h.engine.host.knock = () => {
      knockedAt.push(h.now() - started);
      return Promise.resolve(knocks(knockedAt.length, h.now() - started));
    };
    const acquireOnce = h.engine.host.acquireOnce;
    h.engine.host.acquireOnce = (options: AcquireOptions) => {
      if (options !== mine) loginsAt.push(h.now() - started);
      return acquireOnce(options);
    };
    const done = h.facade.acquire(mine).then(() => h.now() - started);
    return { h, done, knockedAt, loginsAt };
  }

  it('knocks every KNOCK_INTERVAL_MS while refused, without logging in, and logs in at once when a knock is taken', async () => {
    // Refused until 100 ms, then the port takes connections.
    const { h, done, knockedAt, loginsAt } = scouted((_, at) => (at < 100 ? 'refused' : 'open'), [refused()]);
    const took = await done;
    assert.deepEqual(loginsAt, [15, 15 + KNOCK_INTERVAL_MS * knockedAt.length], 'a login that is refused, then one after the taken knock');
    assert.ok(
      knockedAt.every((at, i) => i === 0 || at - knockedAt[i - 1]! === KNOCK_INTERVAL_MS),
      JSON.stringify(knockedAt),
    );
    assert.ok(took <= 100 + KNOCK_INTERVAL_MS, `the sleeper went at ${took} ms (its own delay: 1800 ms)`);
    assert.equal(h.engine.scout.busy, false);
  });

  it('still logs in every 250 ms while knocks are refused (a hook may send connections elsewhere)', async () => {
    const { done, loginsAt } = scouted((_, at) => (at < 600 ? 'refused' : 'open'), [refused(), refused(), refused()]);
    await done;
    // Refused logins at 15 ms and then every 250 ms or so (the first knock after 250 ms), then the one after the port opened.
    assert.equal(loginsAt.length, 4, JSON.stringify(loginsAt));
    for (let i = 1; i < 3; i++) {
      const gap = loginsAt[i]! - loginsAt[i - 1]!;
      assert.ok(gap >= 250 && gap < 250 + KNOCK_INTERVAL_MS, JSON.stringify(loginsAt));
    }
    assert.ok(loginsAt[3]! >= 600 && loginsAt[3]! < 600 + KNOCK_INTERVAL_MS, JSON.stringify(loginsAt));
  });

  it('where a knock cannot tell (a Unix socket, no answer), logs in every interval, as without knocks', async () => {
    const { done, loginsAt } = scouted(() => 'unknown', [refused(), refused(), refused(), refused()]);
    await done;
    assert.equal(loginsAt.length, 5, JSON.stringify(loginsAt));
    // The first refusal sends it to knock; the knock cannot tell, so it logs in, and from then on every interval.
    assert.equal(loginsAt[1]! - loginsAt[0]!, KNOCK_INTERVAL_MS);
    for (let i = 2; i < loginsAt.length; i++) assert.equal(loginsAt[i]! - loginsAt[i - 1]!, 15, JSON.stringify(loginsAt));
  });

  it('once the port opens, a login refused as starting up is tried again at the knocks’ pace, for 100 ms', async () => {
    const startingUp = () => fail('transient', 'the database system is starting up');
    const failing = Array.from({ length: 40 }, startingUp);
    const { done, loginsAt } = scouted((_, at) => (at < 50 ? 'refused' : 'open'), [refused(), ...failing]);
    await done;
    const opened = loginsAt[1]!;
    const gaps = loginsAt.slice(2).map((at, i) => [at - opened, at - loginsAt[i + 1]!] as const);
    for (const [since, gap] of gaps) assert.equal(gap, since <= 100 ? KNOCK_INTERVAL_MS : 15, JSON.stringify(gaps));
  });
});
