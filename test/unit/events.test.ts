import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { channels, type ReconnectEvents } from '../../src';
import { hostLabel } from '../../src/engine/events';
import { fail, harness, query, type Harness } from './support/fake-host';

type Key = keyof ReconnectEvents;
const KEYS = Object.keys(channels) as Key[];

/** Counts the reads of `engine.instance`: publishing is the only reader, once per payload built. */
function countBuilds(h: Harness): { readonly count: number } {
  const counter = { count: 0 };
  const instance = {};
  Object.defineProperty(h.engine, 'instance', {
    get: () => {
      counter.count++;
      return instance;
    },
  });
  return counter;
}

/** A refused connect, retried, then a read whose connection is lost and retried: most channels fire. */
async function failures(h: Harness): Promise<void> {
  await h.facade.acquire({});
  const q = query('SELECT');
  await h.facade.watch(q, 'SELECT 1', undefined, Promise.reject(fail('lost-sent', 'terminated')));
}

describe('diagnostics_channel publication', () => {
  it('builds no payload when no one subscribes', async () => {
    const h = harness({ retries: 3, backoff: { baseMs: 10, maxMs: 10 } }, { connects: [fail('transient', 'refused'), 'ok', 'ok'] });
    const builds = countBuilds(h);
    await failures(h);
    const stats = h.engine.stats.snapshot();
    assert.ok(stats.retries >= 2 && stats.disconnects === 1, 'the failure paths ran');
    assert.equal(builds.count, 0);
  });

  it('publishes each event to a subscriber, in order, the instance and host on each', async () => {
    const h = harness({ retries: 3, backoff: { baseMs: 10, maxMs: 10 } }, { connects: [fail('transient', 'refused'), 'ok', 'ok'] });
    const builds = countBuilds(h);
    const seen: Array<{ key: Key; payload: Record<string, unknown> }> = [];
    const handlers = KEYS.map((key) => {
      const handler = (payload: unknown) => void seen.push({ key, payload: payload as Record<string, unknown> });
      subscribe(channels[key], handler);
      return [key, handler] as const;
    });
    try {
      await failures(h);
    } finally {
      for (const [key, handler] of handlers) unsubscribe(channels[key], handler);
    }
    assert.deepEqual(
      seen.map((e) => e.key).filter((k) => k !== 'sweep'),
      ['connectionLost', 'retry', 'reconnect', 'recovered', 'connectionLost', 'retry', 'reconnect', 'recovered'],
    );
    assert.equal(builds.count, seen.length);
    for (const { payload } of seen) {
      assert.equal(payload['host'], 'db.example');
      assert.ok(!JSON.stringify(payload).includes('secret'), 'the fake config has password "secret"');
    }
    assert.deepEqual(
      seen.filter((e) => e.key === 'connectionLost').map((e) => e.payload['phase']),
      ['connect', 'query'],
    );
  });

  it('labels a host with its port when one is configured, never with its user or password', () => {
    assert.equal(hostLabel({ host: 'db', port: 5432, username: 'u', password: 'p' }), 'db:5432');
    assert.equal(hostLabel({ host: 'db' }), 'db');
    assert.equal(hostLabel({}), 'localhost');
  });

  it('names every channel under sequelize-autoreconnect:', () => {
    assert.deepEqual(KEYS.length, 11);
    for (const key of KEYS) assert.match(channels[key], /^sequelize-autoreconnect:[a-z-]+$/);
  });
});
