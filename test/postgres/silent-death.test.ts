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
import { admin, adminUrl, testSequelize } from '../support/db';
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

  it('settles a verified write silenced before its COMMIT: retried, the row exists once, the call succeeds', async () => {
    const app = f.appName('silent-verified');
    const sequelize = open(app, { retryWrites: 'verified' });
    const tag = `silent-${app}`;
    const { result, mutedAt } = await silencedMidway(f, app, 'pg_sleep(0.3)', () =>
      sequelize.query(`INSERT INTO items (tag) SELECT '${tag}' FROM pg_sleep(0.3)`, { type: QueryTypes.INSERT }),
    );
    const settled = await within(result, 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.ok(
      settled !== 'pending' && settled.ok,
      `the verified write: ${settled === 'pending' ? 'still pending' : String(!settled.ok && settled.error)}`,
    );
    assert.ok(elapsed < 6000, `settled ${elapsed} ms after the silence`);
    assert.equal(await f.count(tag), 1);
    assert.equal(getReconnectStats(sequelize).disconnects, 1);
  });

  it('settles a replayable transaction whose COMMIT went silent: committed once, the call succeeds', async () => {
    const app = f.appName('silent-commit');
    const sequelize = open(app, { replayTransactions: true });
    const tag = `silent-${app}`;
    // COMMIT runs a deferred trigger that takes a while: the silence falls inside it.
    await admin(f.url, async (c) => {
      await c.query(`CREATE OR REPLACE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(0.5); RETURN NULL; END $$`);
      await c.query('CREATE TABLE IF NOT EXISTS slow_items (tag text NOT NULL)');
      await c.query(
        'CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON slow_items DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()',
      );
    });
    let attempts = 0;
    const { result, mutedAt } = await silencedMidway(f, app, 'COMMIT', () =>
      sequelize.transaction(async (transaction) => {
        attempts++;
        await sequelize.query(`INSERT INTO slow_items (tag) VALUES ('${tag}')`, { type: QueryTypes.INSERT, transaction });
      }),
    );
    const settled = await within(result, 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.ok(
      settled !== 'pending' && settled.ok,
      `the transaction: ${settled === 'pending' ? 'still pending' : String(!settled.ok && settled.error)}`,
    );
    assert.ok(elapsed < 7000, `settled ${elapsed} ms after the silence`);
    const count = await admin(f.url, async (c) => {
      const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM slow_items WHERE tag = $1', [tag]);
      return rows[0]!.n;
    });
    assert.equal(count, 1);
    assert.equal(attempts, 1, 'a committed transaction was replayed');
    assert.equal(getReconnectStats(sequelize).commitsSettled, 1);
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

  it('with the defaults, 8 readers on a pool of 6 all complete: the 6 silenced are cut, the 2 waiting for a slot get one', async () => {
    const app = f.appName('silent-pool');
    const sequelize = testSequelize(f.proxiedUrl, { appName: app, pool: { max: 6 } });
    instances.push(sequelize);
    const reads = Array.from({ length: 8 }, (_, i) =>
      outcome(sequelize.query(`SELECT pg_sleep(0.3) AS slept, ${i} AS worker`, { type: QueryTypes.SELECT })),
    );
    // Six are running on the server; two wait for a pool slot. Then every path goes quiet.
    for (;;) {
      const running = await admin(adminUrl(), async (c) => {
        const { rows } = await c.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
          [app],
        );
        return rows[0]!.n;
      });
      if (running === 6) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    f.proxy.muteAll();
    const mutedAt = Date.now();
    const settled = await within(Promise.all(reads), 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.notEqual(settled, 'pending', 'some reads still hang 10 s after the silence');
    const values = settled !== 'pending' ? settled.map((r) => (r.ok ? (r.value as Array<{ worker: number }>)[0]!.worker : r.error)) : [];
    assert.deepEqual(values, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(elapsed < 7000, `all 8 done ${elapsed} ms after the silence`);
    assert.equal(getReconnectStats(sequelize).disconnects, 6);
    console.log(`# 8 readers, pool of 6, silenced: all done ${elapsed} ms after the silence`);
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
