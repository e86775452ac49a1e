import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionError, QueryTypes } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { testSequelize } from '../support/db';
import { defineItem, outcome, useFixture } from '../support/fixture';

/** What users configure today to survive lost connections with Sequelize alone. */
const SEQUELIZE_RETRY = {
  max: 4,
  backoffBase: 1,
  match: [ConnectionError, /Connection terminated/, /ECONNRESET/, /administrator command/, /not queryable/],
};

describe("together with Sequelize's own `retry` option", () => {
  const f = useFixture();

  it('bare Sequelize with retry silently duplicates an ambiguous write', async () => {
    const bare = testSequelize(f.proxiedUrl, { appName: f.appName('bare'), plugin: false, retry: SEQUELIZE_RETRY });
    const Item = defineItem(bare);
    f.proxy.arm('INSERT INTO "items"', 'swallow-reply');
    await Item.create({ tag: 'retry-bare' });
    assert.equal(await f.count('retry-bare'), 2);
    await bare.close();
  });

  it('with the plugin the same write is reported once and not run again by Sequelize', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), retry: SEQUELIZE_RETRY });
    const Item = defineItem(sequelize);
    f.proxy.arm('INSERT INTO "items"', 'swallow-reply');
    const result = await outcome(Item.create({ tag: 'retry-plugin' }));
    assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
    assert.equal(result.error.mayHaveExecuted, true);
    assert.equal(await f.count('retry-plugin'), 1);
    assert.equal(f.proxy.acceptedCount >= 1, true);
    await sequelize.close();
  });

  it('does not multiply attempts: the plugin budget bounds the connect retries', async () => {
    const sequelize = testSequelize(f.proxiedUrl, {
      appName: f.appName(),
      retry: SEQUELIZE_RETRY,
      plugin: { retries: 2, backoff: { baseMs: 1, maxMs: 2 } },
    });
    f.proxy.refuse();
    const refusedBefore = f.proxy.refusedCount;
    const result = await outcome(sequelize.query('SELECT 1', { type: QueryTypes.SELECT }));
    const connectAttempts = f.proxy.refusedCount - refusedBefore;
    f.proxy.accept();
    assert.ok(!result.ok && result.error instanceof ConnectionLostError);
    assert.equal(result.error.attempts, 3);
    assert.equal(connectAttempts, 3, 'one first attempt and two retries; Sequelize retried none of it');
    assert.equal(getReconnectStats(sequelize).retries, 2);
    await sequelize.close();
  });
});
