import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QueryTypes, Sequelize } from 'sequelize';
import { getReconnectStats } from '../../src';
import { clsNamespace } from '../support/cls';
import { createDatabase, readOnlySessions, testSequelize, uniqueAppName } from '../support/db';
import { outcome } from '../support/fixture';
import { errorShape } from '../support/transparency/record';
import { runWorkload, type WorkloadRun } from '../support/transparency/workload';

/** The steps that fail on purpose, and the error bare Sequelize gives for each. */
const EXPECTED_ERRORS: Readonly<Record<string, string>> = {
  'a write in a READ ONLY transaction (25006 in a transaction)': 'SequelizeDatabaseError',
  'a statement after an error in a transaction (25P02)': 'SequelizeDatabaseError',
  'unique violation': 'SequelizeUniqueConstraintError',
  'unique violation in bulkCreate': 'SequelizeUniqueConstraintError',
  'foreign key on insert': 'SequelizeForeignKeyConstraintError',
  'foreign key on delete': 'SequelizeForeignKeyConstraintError',
  validation: 'SequelizeValidationError',
  'not null': 'SequelizeValidationError',
  rejectOnEmpty: 'SequelizeEmptyResultError',
  'statement timeout (57014)': 'SequelizeDatabaseError',
  'syntax error': 'SequelizeDatabaseError',
  'unknown table': 'SequelizeDatabaseError',
  'unknown column': 'SequelizeDatabaseError',
  'division by zero': 'SequelizeDatabaseError',
};

describe('transparency: an ordinary workload, bare and with the plugin, gives the same results and errors', () => {
  const instances: Sequelize[] = [];
  let drop: () => Promise<void> = () => Promise.resolve();
  let bare: WorkloadRun;
  let withPlugin: WorkloadRun;
  let pluginInstance: Sequelize;

  before(async () => {
    // Managed transactions reach every statement through CLS, as in many applications.
    Sequelize.useCLS(clsNamespace());
    // One database, one run after the other (each starts with sync({ force: true }) and ends
    // with drop()): catalog names and serial ids come out the same.
    const db = await createDatabase();
    drop = db.drop;
    const make = (plugin: false | object) => {
      const sequelize = testSequelize(db.url, { appName: uniqueAppName('transparency'), plugin: plugin as false });
      instances.push(sequelize);
      return sequelize;
    };
    bare = await runWorkload(make(false));
    pluginInstance = make({});
    withPlugin = await runWorkload(pluginInstance);
  });
  after(async () => {
    await Promise.all(instances.map((s) => s.close()));
    await drop();
    delete (Sequelize as unknown as { _cls?: unknown })._cls;
  });

  it('the workload does what it means to bare: every step succeeds but the ones that fail on purpose', () => {
    const failed = Object.fromEntries(bare.outcomes.filter((o) => o.error).map((o) => [o.step, o.error!.name]));
    assert.deepEqual(failed, EXPECTED_ERRORS);
    assert.ok(bare.outcomes.length >= 60, `${bare.outcomes.length} steps`);
  });

  it('every step gives the same result with the plugin', () => {
    assert.deepEqual(
      withPlugin.outcomes.map((o) => o.step),
      bare.outcomes.map((o) => o.step),
    );
    for (const [i, expected] of bare.outcomes.entries()) {
      if (!expected.error) assert.deepEqual(withPlugin.outcomes[i], expected, expected.step);
    }
  });

  it('every error has the same class, name, message, parent and fields with the plugin', () => {
    for (const [i, expected] of bare.outcomes.entries()) {
      if (expected.error) assert.deepEqual(withPlugin.outcomes[i], expected, expected.step);
    }
  });

  it('the same hooks run in the same order', () => {
    assert.deepEqual(withPlugin.hookCalls, bare.hookCalls);
    assert.ok(bare.hookCalls.includes('afterCommit') && bare.hookCalls.includes('afterBulkSync'));
  });

  it('the plugin saw no lost connection and retried nothing', () => {
    const stats = getReconnectStats(pluginInstance);
    assert.deepEqual(
      [stats.disconnects, stats.retries, stats.connectFailures, stats.notRetried, stats.retriesFailed],
      [0, 0, 0, 0, 0],
      JSON.stringify(stats),
    );
  });
});

describe('transparency: sessions read only by the application’s settings (default_transaction_read_only)', () => {
  /*
   * Outside a transaction 25006 is also how a primary that failed over and came back as a
   * standby (or was fenced with default_transaction_read_only in its configuration) refuses
   * writes, which the plugin follows to a new connection (test/postgres/replication-failover.test.ts).
   * It asks the session where its read-only setting comes from: a role's or a database's
   * setting is the application's own business, and the write fails as without the plugin.
   */
  for (const level of ['ROLE', 'DATABASE'] as const) {
    it(`set on the ${level.toLowerCase()}: a write outside a transaction gives the same error as bare Sequelize, not retried`, async () => {
      const sessions = await readOnlySessions(level);
      const instances: Sequelize[] = [];
      try {
        const write = async (plugin: false | object) => {
          const sequelize = testSequelize(sessions.url, { appName: uniqueAppName('readonly'), plugin: plugin as false });
          instances.push(sequelize);
          const read = await sequelize.query('SELECT count(*)::int AS n FROM notes', { type: QueryTypes.SELECT });
          const written = await outcome(sequelize.query(`INSERT INTO notes (body) VALUES ('x')`));
          return { read, error: written.ok ? undefined : errorShape(written.error) };
        };
        const bare = await write(false);
        assert.equal(bare.error?.parent?.code, '25006');
        assert.deepEqual(await write({ retries: 2, backoff: { baseMs: 1, maxMs: 5 } }), bare);
        const stats = getReconnectStats(instances[1]!);
        assert.deepEqual([stats.disconnects, stats.retries], [0, 0]);
      } finally {
        await Promise.all(instances.map((s) => s.close()));
        await sessions.drop();
      }
    });
  }
});
