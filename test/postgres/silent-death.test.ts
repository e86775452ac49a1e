/**
 * A connection that dies without a word under a running statement (a proxy that stops
 * forwarding both ways and closes nothing): the watchdog asks the server on a separate
 * connection, cuts the connection whose answer was lost, and never cuts a healthy long query.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { adminUrl, testSequelize } from '../support/db';
import { fixture, outcome, waitForActiveQuery, type Fixture } from '../support/fixture';

/** `promise`'s outcome, or 'pending' once `ms` have passed. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), ms)));
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts `run` and mutes the proxy once its statement (`fragment`) is running on the server. */
async function silencedMidway<T>(f: Fixture, app: string, fragment: string, run: () => Promise<T>) {
  const result = outcome(run());
  await waitForActiveQuery(adminUrl(), app, fragment);
  f.proxy.muteAll();
  return { result, mutedAt: Date.now() };
}

describe('a connection that goes silent under a statement (PostgreSQL)', () => {
  let f: Fixture;
  const instances: Sequelize[] = [];
  const open = (app: string, plugin: Parameters<typeof testSequelize>[1]['plugin']) => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: app, plugin });
    instances.push(sequelize);
    return sequelize;
  };
  before(async () => {
    f = await fixture();
  });
  after(async () => {
    f.proxy.closeStranded();
    await f.close(...instances);
  });

  it('recovers a read on a new connection within silenceMs and one recovery', async () => {
    const app = f.appName('silent-read');
    const sequelize = open(app, { silenceMs: 2000 });
    const { result, mutedAt } = await silencedMidway(f, app, 'pg_sleep(0.3)', () =>
      sequelize.query('SELECT pg_sleep(0.3) AS slept, 42 AS answer', { type: QueryTypes.SELECT }),
    );
    const settled = await within(result, 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.notEqual(settled, 'pending', 'the read still hangs 10 s after the silence');
    assert.deepEqual(settled !== 'pending' && settled.ok && settled.value, [{ slept: '', answer: 42 }]);
    assert.ok(elapsed < 6000, `recovered ${elapsed} ms after the silence`);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.disconnects, 1);
    assert.equal(stats.retriesSucceeded, 1);
    console.log(`# silent read recovered ${elapsed} ms after the silence`);
  });

  it('counts a server the check cannot reach either as a lost session, and recovers the read once it is back', async () => {
    const app = f.appName('silent-unreachable');
    const sequelize = open(app, { retries: 20, silenceMs: 2000 });
    const { result, mutedAt } = await silencedMidway(f, app, 'pg_sleep(0.3)', () =>
      sequelize.query('SELECT pg_sleep(0.3) AS slept, 43 AS answer', { type: QueryTypes.SELECT }),
    );
    f.proxy.refuse(3000);
    const settled = await within(result, 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.deepEqual(settled !== 'pending' && settled.ok && settled.value, [{ slept: '', answer: 43 }]);
    assert.ok(elapsed >= 2000 && elapsed < 6000, `recovered ${elapsed} ms after the silence`);
    assert.equal(getReconnectStats(sequelize).disconnects, 1);
  });

  it('reports a write as mayHaveExecuted, and it ran at most once', async () => {
    const app = f.appName('silent-write');
    const sequelize = open(app, { silenceMs: 2000 });
    const tag = `silent-${app}`;
    const { result, mutedAt } = await silencedMidway(f, app, 'pg_sleep(0.3)', () =>
      sequelize.query(`INSERT INTO items (tag) SELECT '${tag}' FROM pg_sleep(0.3)`),
    );
    const settled = await within(result, 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.ok(settled !== 'pending' && !settled.ok, 'the write is rejected');
    assert.ok(settled.error instanceof ConnectionLostError, String(settled.error));
    assert.equal(settled.error['mayHaveExecuted'], true);
    assert.ok(elapsed < 6000, `reported ${elapsed} ms after the silence`);
    assert.ok((await f.count(tag)) <= 1, 'the write ran twice');
    console.log(`# silent write reported ${elapsed} ms after the silence`);
  });

  it('reports a transaction whose statement went silent as lost', async () => {
    const app = f.appName('silent-transaction');
    const sequelize = open(app, { silenceMs: 2000 });
    const transaction = await sequelize.transaction();
    const { result, mutedAt } = await silencedMidway(f, app, 'pg_sleep(0.3)', () =>
      sequelize.query('SELECT pg_sleep(0.3) AS slept', { type: QueryTypes.SELECT, transaction }),
    );
    const settled = await within(result, 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.ok(settled !== 'pending' && !settled.ok, 'the statement is rejected');
    assert.ok(settled.error instanceof ConnectionLostError, String(settled.error));
    assert.equal(settled.error['transactionLost'], true);
    assert.ok(elapsed < 6000, `reported ${elapsed} ms after the silence`);
    await within(
      transaction.rollback().catch(() => {}),
      5000,
    );
  });

  it('never cuts a healthy long query', async () => {
    const app = f.appName('long-query');
    const sequelize = open(app, { silenceMs: 1000 });
    // Counts the watchdog's questions to the server: the query must have been checked, and found running.
    const query = pg.Client.prototype.query;
    let checks = 0;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      if (typeof args[0] === 'string' && args[0].includes('pg_stat_activity AS a')) checks++;
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query;
    const started = Date.now();
    let rows: unknown;
    try {
      rows = await sequelize.query('SELECT pg_sleep(4) AS slept, 7 AS answer', { type: QueryTypes.SELECT });
    } finally {
      pg.Client.prototype.query = query;
    }
    assert.ok(checks >= 2, `the watchdog asked ${checks} times`);
    assert.deepEqual(rows, [{ slept: '', answer: 7 }]);
    assert.ok(Date.now() - started >= 4000);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.retries, 0);
    assert.equal(stats.disconnects, 0);
  });

  it('with silenceMs: false, leaves a silenced read waiting (as the driver does)', async () => {
    const app = f.appName('watchdog-off');
    const sequelize = open(app, { silenceMs: false });
    const { result } = await silencedMidway(f, app, 'pg_sleep(0.3)', () =>
      sequelize.query('SELECT pg_sleep(0.3) AS slept', { type: QueryTypes.SELECT }),
    );
    assert.equal(await within(result, 5000), 'pending');
    // What a TCP timeout would do at last: the stranded read fails or is retried, either way it ends.
    f.proxy.closeStranded();
    assert.notEqual(await within(result, 10_000), 'pending');
  });
});
