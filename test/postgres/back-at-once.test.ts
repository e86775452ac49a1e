/**
 * Back at once: reads sleeping in a long connect backoff go as soon as the server answers
 * again, rather than when their jittered delays end.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueryTypes } from 'sequelize';
import { getReconnectStats } from '../../src';
import { assertPoolIntact, testSequelize } from '../support/db';
import { outcome, useFixture } from '../support/fixture';
import { until } from '../support/workload';

describe('back at once', { timeout: 60_000 }, () => {
  const f = useFixture();

  it('reads waiting in a 500-2000 ms backoff complete within ~50 ms of the path reopening', async () => {
    const sequelize = testSequelize(f.proxiedUrl, {
      appName: f.appName(),
      pool: { max: 4 },
      plugin: { retries: 1000, deadlineMs: 60_000, backoff: { baseMs: 500, maxMs: 2000 } },
    });
    f.proxy.refuse();
    try {
      const finished: number[] = [];
      const reads = Array.from({ length: 3 }, () =>
        outcome(sequelize.query('SELECT 1 AS n', { type: QueryTypes.SELECT }).finally(() => finished.push(Date.now()))),
      );
      // Several retries each, so that their delays are well past the scout's interval.
      await until('the reads to be backing off', () => getReconnectStats(sequelize).retries >= 9, 20_000);
      const before = getReconnectStats(sequelize).retries;
      const reopenedAt = Date.now();
      f.proxy.accept();
      const results = await Promise.all(reads);
      for (const r of results) assert.ok(r.ok, !r.ok ? r.error.message : '');
      const last = Math.max(...finished) - reopenedAt;
      // Without the scout the last would wait up to 2000 ms; slack for a loaded machine.
      assert.ok(last < 150, `the last read finished ${last} ms after the path reopened`);
      // The reads' own attempts after reopening succeed: one retry each at most (a sleeper's timer can end first).
      assert.ok(getReconnectStats(sequelize).retries - before <= 3, JSON.stringify(getReconnectStats(sequelize)));
      await assertPoolIntact(sequelize);
    } finally {
      f.proxy.accept();
      await sequelize.close();
    }
  });
});
