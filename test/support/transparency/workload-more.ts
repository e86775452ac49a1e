import { QueryTypes, Transaction, type Sequelize } from 'sequelize';
import type { Models } from './models';
import type { Recorder } from './record';

/** Managed transactions (CLS carries them to every statement), unmanaged ones, savepoints. */
export async function transactionSteps(r: Recorder, sequelize: Sequelize, { User, Tag }: Models, hookCalls: string[]): Promise<void> {
  await r.step('managed transaction with CLS', () =>
    sequelize.transaction(async (t) => {
      t.afterCommit(() => void hookCalls.push('afterCommit'));
      await User.create({ name: 'Eve', email: 'eve@example.com', age: 30 });
      await Tag.create({ label: 'cls' });
      return [await User.count(), await Tag.count({ where: { label: 'cls' } })];
    }),
  );
  await r.step('managed transaction that throws: rolled back', async () => {
    const thrown = await sequelize
      .transaction(async () => {
        await Tag.create({ label: 'rolled-back' });
        throw new Error('abort the transaction');
      })
      .catch((error: unknown) => (error as Error).message);
    return [thrown, await Tag.count({ where: { label: 'rolled-back' } })];
  });
  await r.step('savepoint inside a managed transaction', () =>
    sequelize.transaction(async (t) => {
      await Tag.create({ label: 'outer' });
      const inner = await sequelize
        .transaction({ transaction: t }, async () => {
          await Tag.create({ label: 'inner' });
          throw new Error('roll back to the savepoint');
        })
        .catch((error: unknown) => (error as Error).message);
      return [inner, await Tag.count({ where: { label: ['outer', 'inner'] } })];
    }),
  );
  await r.step('unmanaged transaction with savepoints', async () => {
    const t = await sequelize.transaction();
    try {
      await Tag.create({ label: 'kept' }, { transaction: t });
      const dropped = await sequelize.transaction({ transaction: t });
      await Tag.create({ label: 'dropped' }, { transaction: dropped });
      await dropped.rollback();
      const kept = await sequelize.transaction({ transaction: t });
      await Tag.create({ label: 'kept-too' }, { transaction: kept });
      await kept.commit();
      await t.commit();
    } catch (error) {
      await t.rollback();
      throw error;
    }
    return Tag.findAll({ where: { label: ['kept', 'dropped', 'kept-too'] }, order: [['id', 'ASC']], attributes: ['label'] });
  });
  await r.step('unmanaged rollback', async () => {
    const t = await sequelize.transaction();
    await Tag.create({ label: 'never' }, { transaction: t });
    await t.rollback();
    return Tag.count({ where: { label: 'never' } });
  });
  await r.step('serializable, with a row lock', () =>
    sequelize.transaction({ isolationLevel: Transaction.ISOLATION_LEVELS.SERIALIZABLE }, (t) =>
      User.findAll({ where: { name: 'Ada' }, lock: t.LOCK.UPDATE, attributes: ['name'] }),
    ),
  );
  await r.step('a write in a READ ONLY transaction (25006 in a transaction)', async () => {
    const t = await sequelize.transaction();
    try {
      await sequelize.query('SET TRANSACTION READ ONLY', { transaction: t });
      return await Tag.create({ label: 'read-only' }, { transaction: t });
    } finally {
      await t.rollback();
    }
  });
  await r.step('a statement after an error in a transaction (25P02)', async () => {
    const t = await sequelize.transaction();
    try {
      await sequelize.query('SELECT 1/0', { transaction: t }).catch(() => {});
      return await sequelize.query('SELECT 1', { transaction: t });
    } finally {
      await t.rollback();
    }
  });
}

/** `sequelize.query` with every QueryTypes, and the queryInterface calls that use them. */
export async function rawQuerySteps(r: Recorder, sequelize: Sequelize): Promise<void> {
  const qi = sequelize.getQueryInterface();
  const q = (sql: string, type: QueryTypes, extra: object = {}) => sequelize.query(sql, { ...extra, type: type as QueryTypes.RAW });
  await r.step('RAW', () => sequelize.query('SELECT 1 AS one'));
  await r.step('SELECT', () => q('SELECT id, name FROM users ORDER BY id', QueryTypes.SELECT));
  await r.step('SELECT with replacements', () =>
    q('SELECT name FROM users WHERE name = :name', QueryTypes.SELECT, { replacements: { name: 'Ada' } }),
  );
  await r.step('SELECT with bind', () => q('SELECT name FROM users WHERE age > $1 ORDER BY id', QueryTypes.SELECT, { bind: [20] }));
  await r.step('SELECT plain, nest', () => q('SELECT 1 AS "a.b", 2 AS c', QueryTypes.SELECT, { plain: true, nest: true }));
  await r.step('INSERT', () => q(`INSERT INTO tags (label) VALUES ('raw') RETURNING id, label`, QueryTypes.INSERT));
  await r.step('UPDATE', () => q(`UPDATE tags SET label = 'raw2' WHERE label = 'raw' RETURNING label`, QueryTypes.UPDATE));
  await r.step('BULKUPDATE', () => q('UPDATE users SET visits = visits + 1', QueryTypes.BULKUPDATE));
  await r.step('UPSERT', () =>
    q(`INSERT INTO counters (key, value) VALUES ('z', 1) ON CONFLICT (key) DO UPDATE SET value = 2 RETURNING *`, QueryTypes.UPSERT),
  );
  await r.step('DELETE', () => q(`DELETE FROM tags WHERE label = 'raw2'`, QueryTypes.DELETE));
  await r.step('BULKDELETE', () => q(`DELETE FROM counters WHERE key = 'z'`, QueryTypes.BULKDELETE));
  await r.step('VERSION', async () => [await sequelize.databaseVersion(), await q('SHOW server_version', QueryTypes.VERSION)]);
  await r.step('SHOWTABLES', async () => (await qi.showAllTables()).sort());
  await r.step('SHOWINDEXES', () => qi.showIndex('users'));
  await r.step('DESCRIBE', () => qi.describeTable('users'));
  await r.step('FOREIGNKEYS', () => qi.getForeignKeyReferencesForTable('posts'));
  // Untyped in Sequelize's declarations, but public: the queryInterface call that uses SHOWCONSTRAINTS.
  const untyped = qi as unknown as { showConstraint(table: string): Promise<unknown> };
  await r.step('SHOWCONSTRAINTS', () => untyped.showConstraint('users'));
}

/** What an application meets when it is wrong: each error's class, name and message are compared. */
export async function errorSteps(r: Recorder, sequelize: Sequelize, { User, Post }: Models): Promise<void> {
  await r.step('unique violation', () => User.create({ name: 'Ada', email: 'ada2@example.com' }));
  await r.step('unique violation in bulkCreate', () => User.bulkCreate([{ name: 'Bob', email: 'bob2@example.com' }]));
  await r.step('foreign key on insert', () => Post.create({ title: 'orphan', authorId: 999 }));
  await r.step('foreign key on delete', () => User.destroy({ where: { name: 'Ada' } }));
  await r.step('validation', () => User.create({ name: 'Bad', email: 'not-an-email', age: -1 }));
  await r.step('not null', () => User.create({ email: 'nobody@example.com' }));
  await r.step('rejectOnEmpty', () => User.findByPk(999, { rejectOnEmpty: true }));
  await r.step('statement timeout (57014)', () =>
    sequelize.transaction(async (t) => {
      await sequelize.query('SET LOCAL statement_timeout = 50', { transaction: t });
      return sequelize.query('SELECT pg_sleep(5)', { transaction: t });
    }),
  );
  await r.step('syntax error', () => sequelize.query('SELEC 1'));
  await r.step('unknown table', () => sequelize.query('SELECT * FROM no_such_table'));
  await r.step('unknown column', () => User.findAll({ where: { no_such_column: 1 } }));
  await r.step('division by zero', () => sequelize.query('SELECT 1/0', { type: QueryTypes.SELECT }));
}
