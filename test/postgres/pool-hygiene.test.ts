import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { assertPoolIntact, poolState, terminateBackends, testSequelize } from '../support/db';
import { defineItem, type Fixture, gate, outcome, useFixture } from '../support/fixture';
import { until } from '../support/workload';

async function backendPid(sequelize: Sequelize): Promise<number> {
  const rows = await sequelize.query<{ pid: number }>('SELECT pg_backend_pid() AS pid', { type: QueryTypes.SELECT });
  return rows[0]!.pid;
}

/**
 * Opens `n` pooled connections and uses each once, so that the pool holds that many idle,
 * used ones: the statements wait at a gate until all `n` run at once, however slowly the
 * connections open (a query that ended early would otherwise take over a connection still opening).
 */
async function warm(f: Fixture, sequelize: Sequelize, appName: string, n: number): Promise<void> {
  const held = await gate(f.url);
  try {
    const queries = Promise.all(Array.from({ length: n }, () => sequelize.query(`SELECT ${held.sql}`)));
    await held.held(appName, n);
    await held.open();
    await queries;
  } finally {
    await held.open();
  }
}

describe('pool hygiene', () => {
  const f = useFixture();

  it('validates a connection idle past validateIdleMs, so a write after a silent drop runs exactly once', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: { validateIdleMs: 50 } });
    const Item = defineItem(sequelize);
    await Item.count();
    await sleep(100);
    f.proxy.forgetAll();
    const item = await Item.create({ tag: 'pre-pinged' });
    assert.equal(item.get('tag'), 'pre-pinged');
    assert.equal(await f.count('pre-pinged'), 1);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.validationFailures, 1);
    assert.equal(stats.disconnects, 0, 'no statement met the dead connection');
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it('validates a connection the pool opened and never used (pool min), so a write after a silent drop runs exactly once', async () => {
    const appName = f.appName();
    const sequelize = testSequelize(f.proxiedUrl, { appName, pool: { min: 2, max: 2 }, plugin: { validateIdleMs: 50 } });
    const Item = defineItem(sequelize);
    await Item.count();
    // The pool tops itself up to min only when it destroys a connection: end one, and the next
    // checkout leaves one connection used and one never used.
    await terminateBackends(f.url, appName);
    await Item.count();
    await until('the pool holds two idle connections', () => poolState(sequelize).available === 2);
    await sleep(100);
    f.proxy.forgetAll();
    await Promise.all([Item.create({ tag: 'min-a' }), Item.create({ tag: 'min-b' })]);
    assert.equal(await f.count('min-a'), 1);
    assert.equal(await f.count('min-b'), 1);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.validationFailures, 2, 'both idle connections were checked');
    assert.equal(stats.disconnects, 0, 'no statement met a dead connection');
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it('does not validate a connection reused sooner than validateIdleMs', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: { validateIdleMs: 60_000 } });
    for (let i = 0; i < 5; i++) await sequelize.query('SELECT 1');
    assert.equal(getReconnectStats(sequelize).validations, 0);
    await sequelize.close();
  });

  it('gives up on a validation that gets no answer within validateTimeoutMs and uses a new connection', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: { validateIdleMs: 0, validateTimeoutMs: 200 } });
    const before = await backendPid(sequelize);
    f.proxy.muteAll();
    const after = await backendPid(sequelize);
    assert.notEqual(after, before);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.validationFailures, 1);
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it('sweeps: after one dead connection, the older idle ones are checked, so one outage costs one failure', async () => {
    const run = async (sweep: boolean, tag: string) => {
      const appName = f.appName();
      const sequelize = testSequelize(f.proxiedUrl, { appName, pool: { max: 4 }, plugin: { validateIdleMs: false, sweep } });
      const Item = defineItem(sequelize);
      await warm(f, sequelize, appName, 4);
      assert.equal(poolState(sequelize).available, 4);
      f.proxy.forgetAll();
      const failures: boolean[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await outcome(Item.create({ tag }));
        failures.push(!r.ok);
        if (!r.ok) assert.ok(r.error instanceof ConnectionLostError && r.error.mayHaveExecuted);
      }
      await assertPoolIntact(sequelize);
      await sequelize.close();
      return failures;
    };
    assert.deepEqual(await run(true, 'swept'), [true, false, false, false]);
    assert.equal(await f.count('swept'), 3);
    assert.deepEqual(await run(false, 'not-swept'), [true, true, true, true]);
    assert.equal(await f.count('not-swept'), 0);
  });

  it('retires a connection past maxLifetimeMs, idle or in use, and opens a new one', async () => {
    const sequelize = testSequelize(f.url, { appName: f.appName(), plugin: { maxLifetimeMs: 150 } });
    const first = await backendPid(sequelize);
    await sleep(200);
    const second = await backendPid(sequelize);
    assert.notEqual(second, first, 'the idle connection past its lifetime was not reused');
    // In use when it expires: closed on release instead of going back to the pool.
    const retiredBefore = getReconnectStats(sequelize).retired;
    const rows = await sequelize.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_sleep(0.2)', { type: QueryTypes.SELECT });
    assert.ok(getReconnectStats(sequelize).retired > retiredBefore);
    assert.notEqual(await backendPid(sequelize), rows[0]!.pid);
    await sequelize.close();
  });
});
