/** MySQL/MariaDB transactions whose connection was lost: never replayed, except their opening statements. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { QueryTypes } from 'sequelize';
import type { RowDataPacket } from 'mysql2/promise';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { describeWith } from '../support/binaries';
import { defineItem, outcome } from '../support/fixture';
import { mariadbRequirement } from '../support/mariadb';
import { assertMyPoolIntact, FAMILY, useMyFixture } from '../support/mysql';

for (const dialect of FAMILY) {
  describeWith(mariadbRequirement(), `${dialect}: a transaction whose connection was lost`, () => {
    const f = useMyFixture();

    it('fails the next statement of a transaction whose session died with transactionLost; the rollback is quiet', async () => {
      const { sequelize, user } = await f.app(dialect, { proxied: false });
      const Item = defineItem(sequelize);
      const transaction = await sequelize.transaction();
      await Item.create({ tag: `${dialect}-tx` }, { transaction });
      assert.equal(await f.kill(user), 1);
      const result = await outcome(Item.create({ tag: `${dialect}-tx` }, { transaction }));
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
      assert.equal(result.error.transactionLost, true);
      await transaction.rollback();
      assert.equal(await f.count(`${dialect}-tx`), 0, 'InnoDB rolled the transaction back with the session');
      await sequelize.transaction(async (t) => Item.create({ tag: `${dialect}-tx-after` }, { transaction: t }));
      assert.equal(await f.count(`${dialect}-tx-after`), 1);
      await assertMyPoolIntact(sequelize);
    });

    it('reports a COMMIT whose reply was lost as of unknown outcome (here it did commit)', async () => {
      const { sequelize } = await f.app(dialect);
      const Item = defineItem(sequelize);
      await Item.count();
      f.proxy.arm('COMMIT', 'swallow-reply');
      const tag = `${dialect}-commit`;
      const result = await outcome(sequelize.transaction(async (transaction) => Item.create({ tag }, { transaction })));
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
      assert.equal(result.error.reason, 'commit-outcome-unknown');
      assert.equal(result.error.mayHaveExecuted, true);
      assert.equal(result.error.transactionLost, true);
      assert.equal(await f.count(tag), 1);
      await assertMyPoolIntact(sequelize);
    });

    it('starts a transaction (with an isolation level) on a new connection when the pooled one was dead', async () => {
      const { sequelize } = await f.app(dialect, { pool: { max: 1 }, plugin: { validateIdleMs: false } });
      const Item = defineItem(sequelize);
      await Item.count();
      f.proxy.forgetAll();
      await sequelize.transaction({ isolationLevel: 'SERIALIZABLE' as never }, async (transaction) =>
        Item.create({ tag: `${dialect}-tx-begin` }, { transaction }),
      );
      assert.equal(await f.count(`${dialect}-tx-begin`), 1);
      assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
      await assertMyPoolIntact(sequelize);
    });

    it('keeps the isolation level when START TRANSACTION fails after SET TRANSACTION and moves to a new connection', async () => {
      const { sequelize } = await f.app(dialect, { pool: { max: 1 } });
      const Item = defineItem(sequelize);
      await Item.count();
      // SET TRANSACTION ISOLATION LEVEL reached the lost session; START TRANSACTION never did.
      f.proxy.arm('START TRANSACTION', 'reset');
      const level = await sequelize.transaction({ isolationLevel: 'SERIALIZABLE' as never }, async (transaction) => {
        await Item.count({ transaction });
        const row = await sequelize.query<{ id: unknown }>('SELECT CONNECTION_ID() AS id', {
          type: QueryTypes.SELECT,
          plain: true,
          transaction,
        });
        return f.admin(async (c) => {
          const [rows] = await c.query<RowDataPacket[]>(
            'SELECT trx_isolation_level AS level FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = ?',
            [Number(row!.id)],
          );
          return rows.map((r) => String(r['level']));
        });
      });
      assert.deepEqual(level, ['SERIALIZABLE']);
      assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
      await assertMyPoolIntact(sequelize);
    });

    it('never moves an opening statement the application sends once the transaction has run statements', async () => {
      const { sequelize } = await f.app(dialect);
      const Item = defineItem(sequelize);
      const tag = `${dialect}-tx-midway`;
      const transaction = await sequelize.transaction();
      await Item.create({ tag }, { transaction });
      f.proxy.arm('SET TRANSACTION READ WRITE', 'reset');
      // On a new connection it would run, and what follows would run outside any transaction.
      const result = await outcome(sequelize.query('SET TRANSACTION READ WRITE', { transaction }));
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
      assert.equal(result.error.transactionLost, true);
      assert.equal(result.error.reason, 'in-transaction');
      await transaction.rollback();
      assert.equal(await f.count(tag), 0);
      await assertMyPoolIntact(sequelize);
    });
  });
}
