/**
 * PostgreSQL's own timeouts end sessions: `idle_session_timeout` (57P05) and
 * `idle_in_transaction_session_timeout` (25P03). Bare Sequelize beside the plugin.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DatabaseError, QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../../src';
import { assertPoolIntact, testSequelize, withHostPort } from '../../support/db';
import { FaultProxy } from '../../support/fault-proxy';
import { defineItem, outcome, useFixture, watchConnections } from '../../support/fixture';
import { until } from '../../support/workload';

const IDLE_SESSION_MS = 600;
const IDLE_IN_TRANSACTION_MS = 300;

describe("PostgreSQL's session timeouts", () => {
  const f = useFixture();

  const idleSession = { options: `-c idle_session_timeout=${IDLE_SESSION_MS}` };

  it('idle_session_timeout on a connection idle in the pool: both replace it unseen', async () => {
    const bare = testSequelize(f.url, { appName: f.appName('bare'), plugin: false, pool: { max: 1 }, dialectOptions: idleSession });
    const sequelize = testSequelize(f.url, { appName: f.appName(), pool: { max: 1 }, dialectOptions: idleSession });
    const connections = [bare, sequelize].map(watchConnections);
    for (const s of [bare, sequelize]) await s.query('SELECT 1', { type: QueryTypes.SELECT });
    // Idle until the server has ended both sessions and each app has read that.
    await until('the server to end the idle sessions', () => connections.every((c) => c.opened > 0 && c.ended === c.opened));
    for (const s of [bare, sequelize]) assert.deepEqual(await s.query('SELECT 2 AS n', { type: QueryTypes.SELECT }), [{ n: 2 }]);
    assert.equal(getReconnectStats(sequelize).disconnects, 0);
    await Promise.all([bare.close(), sequelize.close()]);
  });

  /**
   * Over a network with latency the server's 57P05 and the app's next statement cross: the app
   * sends before the FATAL reaches it, and the statement arrives after the session ended. A
   * relay holds the FATAL and the close back until the app has sent, so they cross on every
   * run, however slow the machine.
   */
  it('idle_session_timeout racing the next INSERT: bare Sequelize loses it, the plugin knows it never ran and retries it', async () => {
    const server = new URL(f.url);
    const relay = await FaultProxy.start({ target: { host: server.hostname, port: Number(server.port) } });
    const url = withHostPort(f.url, relay.host, relay.port);
    const bare = testSequelize(url, { appName: f.appName('bare'), plugin: false, pool: { max: 1 }, dialectOptions: idleSession });
    // No check at checkout: the INSERT itself is to meet the ended session.
    const sequelize = testSequelize(url, {
      appName: f.appName(),
      pool: { max: 1 },
      dialectOptions: idleSession,
      plugin: { validateIdleMs: false },
    });
    try {
      await Promise.all([bare, sequelize].map((s) => s.query('SELECT 1', { type: QueryTypes.SELECT })));
      relay.holdReplies();
      await until('the server to end both idle sessions', () => relay.heldCloseCount === 2);
      const [bareInsert, insert] = await Promise.all([
        outcome(defineItem(bare).create({ tag: 'idle-bare' })),
        outcome(defineItem(sequelize).create({ tag: 'idle-plugin' })),
      ]);

      assert.ok(!bareInsert.ok && bareInsert.error instanceof DatabaseError, 'bare Sequelize fails the INSERT');
      assert.equal((bareInsert.error['original'] as { code?: string }).code, '57P05');
      assert.equal(await f.count('idle-bare'), 0);
      assert.ok(insert.ok, !insert.ok ? insert.error.message : '');
      assert.equal(await f.count('idle-plugin'), 1, 'run once: the session had ended before it arrived');
      assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
      await assertPoolIntact(sequelize);
    } finally {
      await Promise.all([bare.close(), sequelize.close()]);
      await relay.close();
    }
  });

  it('idle_in_transaction_session_timeout: the transaction is reported lost (nothing committed), the rollback is clean', async () => {
    const dialectOptions = { idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS };
    const bare = testSequelize(f.url, { appName: f.appName('bare'), plugin: false, dialectOptions });
    const sequelize = testSequelize(f.url, { appName: f.appName(), dialectOptions });
    const idleInTransaction = async (s: Sequelize, tag: string) => {
      const Item = defineItem(s);
      const connections = watchConnections(s);
      const t = await s.transaction();
      await Item.create({ tag }, { transaction: t });
      // Idle until the server has ended the session and the app has read that.
      await until('the server to end the idle transaction', () => connections.opened > 0 && connections.ended === connections.opened);
      const next = await outcome(Item.create({ tag }, { transaction: t }));
      const rollback = await outcome(t.rollback());
      return { next, rollback };
    };
    const bareRun = await idleInTransaction(bare, 'iit-bare');
    const run = await idleInTransaction(sequelize, 'iit-plugin');

    // Bare Sequelize: a DatabaseError (so its retry's `match: [ConnectionError]` would not fire), and a failing rollback.
    assert.ok(!bareRun.next.ok && bareRun.next.error instanceof DatabaseError && !(bareRun.next.error instanceof ConnectionLostError));
    assert.match(bareRun.next.error.message, /not queryable/);
    assert.equal(bareRun.rollback.ok, false);

    assert.ok(!run.next.ok && run.next.error instanceof ConnectionLostError, !run.next.ok ? run.next.error.message : 'resolved');
    assert.equal(run.next.error.transactionLost, true);
    assert.equal(run.next.error.mayHaveExecuted, false);
    assert.equal(run.next.error.reason, 'in-transaction');
    assert.ok(run.rollback.ok, !run.rollback.ok ? run.rollback.error.message : '');
    assert.deepEqual([await f.count('iit-bare'), await f.count('iit-plugin')], [0, 0], 'nothing of either transaction committed');

    // Retrying the whole transaction is what the error asks for, and it works.
    await sequelize.transaction(async (transaction) => {
      await defineItem(sequelize).create({ tag: 'iit-plugin' }, { transaction });
    });
    assert.equal(await f.count('iit-plugin'), 1);
    await assertPoolIntact(sequelize);
    await Promise.all([bare.close(), sequelize.close()]);
  });
});
