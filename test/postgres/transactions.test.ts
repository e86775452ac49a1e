import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { DatabaseError, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { adminUrl, assertPoolIntact, terminateBackends, testSequelize } from '../support/db';
import { defineItem, outcome, useFixture } from '../support/fixture';

function appNameOf(sequelize: Sequelize): string {
  return (sequelize as unknown as { options: { dialectOptions: { application_name: string } } }).options.dialectOptions.application_name;
}

/** Records console.warn calls (Sequelize warns when a rollback fails) during `fn`. */
async function warningsDuring<T>(fn: () => Promise<T>): Promise<{ result: T; warnings: string[] }> {
  const warn = mock.method(console, 'warn', () => {});
  try {
    const result = await fn();
    return { result, warnings: warn.mock.calls.map((c) => String(c.arguments[0])) };
  } finally {
    warn.mock.restore();
  }
}

describe('a connection lost inside a transaction', () => {
  const f = useFixture();

  it('fails the managed transaction with transactionLost, commits nothing, and rolls back without a second error', async () => {
    const sequelize = testSequelize(f.url, { appName: f.appName() });
    const Item = defineItem(sequelize);
    const { result, warnings } = await warningsDuring(() =>
      outcome(
        sequelize.transaction(async (transaction) => {
          await Item.create({ tag: 'tx-lost' }, { transaction });
          await terminateBackends(adminUrl(), appNameOf(sequelize));
          await Item.create({ tag: 'tx-lost' }, { transaction });
        }),
      ),
    );
    assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
    assert.equal(result.error.transactionLost, true);
    assert.equal(result.error.mayHaveExecuted, false);
    assert.equal(result.error.reason, 'in-transaction');
    assert.match(result.error.message, /nothing of it was committed/);
    assert.deepEqual(warnings, [], 'no "Rolling back transaction failed" noise');
    assert.equal(await f.count('tx-lost'), 0);
    assert.equal(getReconnectStats(sequelize).retries, 0, 'a statement of a transaction is never replayed');
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it('in bare Sequelize the same loss gives a DatabaseError and a failed-rollback warning', async () => {
    const sequelize = testSequelize(f.url, { appName: f.appName('bare'), plugin: false });
    const Item = defineItem(sequelize);
    const { result, warnings } = await warningsDuring(() =>
      outcome(
        sequelize.transaction(async (transaction) => {
          await Item.create({ tag: 'tx-lost-bare' }, { transaction });
          await terminateBackends(adminUrl(), appNameOf(sequelize));
          await Item.create({ tag: 'tx-lost-bare' }, { transaction });
        }),
      ),
    );
    assert.ok(!result.ok && result.error instanceof DatabaseError);
    assert.ok(
      warnings.some((w) => /Rolling back transaction .* failed/.test(w)),
      JSON.stringify(warnings),
    );
    assert.equal(await f.count('tx-lost-bare'), 0);
    await sequelize.close();
  });

  it('lets an unmanaged transaction be rolled back cleanly after the loss', async () => {
    const sequelize = testSequelize(f.url, { appName: f.appName() });
    const Item = defineItem(sequelize);
    const transaction = await sequelize.transaction();
    await Item.create({ tag: 'tx-unmanaged' }, { transaction });
    await terminateBackends(adminUrl(), appNameOf(sequelize));
    const result = await outcome(Item.create({ tag: 'tx-unmanaged' }, { transaction }));
    assert.ok(!result.ok && result.error instanceof ConnectionLostError && result.error.transactionLost);
    await transaction.rollback();
    assert.equal((transaction as unknown as { finished?: string }).finished, 'rollback');
    const commitAfterLoss = await outcome(
      (async () => {
        const t2 = await sequelize.transaction();
        await Item.create({ tag: 'tx-after' }, { transaction: t2 });
        await t2.commit();
      })(),
    );
    assert.equal(commitAfterLoss.ok, true, 'the instance works normally afterwards');
    assert.equal(await f.count('tx-unmanaged'), 0);
    assert.equal(await f.count('tx-after'), 1);
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it('fails a savepoint (nested transaction) statement as a lost transaction too', async () => {
    const sequelize = testSequelize(f.url, { appName: f.appName() });
    const Item = defineItem(sequelize);
    const result = await outcome(
      sequelize.transaction(async (outer) => {
        await Item.create({ tag: 'tx-nested' }, { transaction: outer });
        await sequelize.transaction({ transaction: outer }, async (inner) => {
          await terminateBackends(adminUrl(), appNameOf(sequelize));
          await Item.create({ tag: 'tx-nested' }, { transaction: inner });
        });
      }),
    );
    assert.ok(!result.ok && result.error instanceof ConnectionLostError && result.error.transactionLost);
    assert.equal(await f.count('tx-nested'), 0);
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it('starts a transaction on a new connection when the pooled one was dead before BEGIN', async () => {
    const bare = testSequelize(f.proxiedUrl, { appName: f.appName('bare'), plugin: false, pool: { max: 1 } });
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), pool: { max: 1 }, plugin: { validateIdleMs: false } });
    const Item = defineItem(sequelize);
    const BareItem = defineItem(bare);
    await Promise.all([Item.count(), BareItem.count()]);
    f.proxy.forgetAll();
    const bareResult = await outcome(bare.transaction(async (transaction) => BareItem.create({ tag: 'tx-begin-bare' }, { transaction })));
    assert.equal(bareResult.ok, false);
    await sequelize.transaction(async (transaction) => Item.create({ tag: 'tx-begin' }, { transaction }));
    assert.equal(await f.count('tx-begin'), 1);
    assert.equal(await f.count('tx-begin-bare'), 0);
    assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
    await assertPoolIntact(sequelize);
    await Promise.all([bare.close(), sequelize.close()]);
  });

  it('reports a COMMIT whose reply was lost as of unknown outcome (here it did commit)', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName() });
    const Item = defineItem(sequelize);
    f.proxy.arm(/^Q[\s\S]{4}COMMIT/, 'swallow-reply');
    const { result } = await warningsDuring(() =>
      outcome(sequelize.transaction(async (transaction) => Item.create({ tag: 'tx-commit' }, { transaction }))),
    );
    assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
    assert.equal(result.error.reason, 'commit-outcome-unknown');
    assert.equal(result.error.mayHaveExecuted, true);
    assert.equal(result.error.transactionLost, true);
    assert.equal(await f.count('tx-commit'), 1);
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });
});
