/**
 * Nothing the plugin starts outlives an operation's deadline, and nothing is retried after
 * `sequelize.close()`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueryTypes } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { adminUrl, assertPoolIntact, terminateBackends, testSequelize } from '../support/db';
import { gate, outcome, useFixture } from '../support/fixture';
import { sleep, until } from '../support/workload';

describe('deadlines and close()', { timeout: 60_000 }, () => {
  const f = useFixture();

  it('a retried statement that does not finish by the deadline fails with deadline-exceeded, its connection closed', async () => {
    const app = f.appName();
    const deadlineMs = 500;
    const sequelize = testSequelize(f.url, { appName: app, plugin: { retries: 5, deadlineMs } });
    const held = await gate(f.url);
    try {
      const read = outcome(sequelize.query(`SELECT ${held.sql} AS held`, { type: QueryTypes.SELECT }));
      await held.held(app);
      await terminateBackends(adminUrl(), app);
      const killedAt = Date.now();
      // The retry is held at the gate too, and stays there: only the deadline can end it.
      const result = await read;
      const waited = Date.now() - killedAt;
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
      assert.equal(result.error.reason, 'deadline-exceeded');
      assert.equal(result.error.phase, 'query');
      // A guard that the deadline ends it, with slack for a loaded machine; not a benchmark.
      assert.ok(waited < deadlineMs + 3000, `ended ${waited} ms after the first failure`);
      await assertPoolIntact(sequelize);
    } finally {
      await held.open();
      await sequelize.close();
    }
  });

  it('close() ends operations that are backing off at once, and no connection is attempted after it', async () => {
    const sequelize = testSequelize(f.proxiedUrl, {
      appName: f.appName(),
      plugin: { retries: 1000, deadlineMs: 60_000, backoff: { baseMs: 500, maxMs: 5000 } },
    });
    f.proxy.refuse();
    try {
      const reads = Array.from({ length: 3 }, () => outcome(sequelize.query('SELECT 1 AS n', { type: QueryTypes.SELECT })));
      await until('the reads to be backing off', () => getReconnectStats(sequelize).retries >= 3);
      const closedAt = Date.now();
      await sequelize.close();
      const results = await Promise.all(reads);
      const waited = Date.now() - closedAt;
      for (const r of results) {
        assert.ok(!r.ok && r.error instanceof ConnectionLostError, !r.ok ? r.error.message : 'resolved');
        assert.equal(r.error.reason, 'closed');
        assert.equal(r.error.mayHaveExecuted, false);
      }
      // Woken, not left to sleep out delays of up to 5 s.
      assert.ok(waited < 2000, `the reads ended ${waited} ms after close()`);
      const attempts = f.proxy.refusedCount;
      await sleep(300);
      assert.equal(f.proxy.refusedCount, attempts, 'a connection was attempted after close()');
    } finally {
      f.proxy.accept();
    }
  });
});
