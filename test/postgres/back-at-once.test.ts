/**
 * Back at once: reads sleeping in a long connect backoff go as soon as the server answers
 * again, rather than when their jittered delays end.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { QueryTypes, type Options, type Sequelize } from 'sequelize';
import { getReconnectStats } from '../../src';
import { SCOUT_INTERVAL_MS } from '../../src/core/backoff';
import { adminUrl, assertPoolIntact, testSequelize, withHostPort } from '../support/db';
import { outcome, useFixture } from '../support/fixture';
import { assertKnocksThenBackAtOnce, refusingPort } from '../support/refusing-port';
import { until } from '../support/workload';

describe('back at once', { timeout: 60_000 }, () => {
  const f = useFixture();

  /** How long bare Sequelize's first statement on a new connection takes through the path now (a loaded machine takes longer). */
  async function freshConnection(bare: Sequelize): Promise<number> {
    const started = Date.now();
    await bare.query('SELECT 1', { type: QueryTypes.SELECT });
    return Date.now() - started;
  }

  it('reads waiting in a 500-2000 ms backoff complete about two fresh connections after the path reopens', async () => {
    const sequelize = testSequelize(f.proxiedUrl, {
      appName: f.appName(),
      pool: { max: 4 },
      plugin: { retries: 1000, deadlineMs: 60_000, backoff: { baseMs: 500, maxMs: 2000 } },
    });
    // Its version given, so that its first statement needs one connection, as a read's does.
    const known = { databaseVersion: '14.0.0' } as unknown as Options; // Sequelize's option, missing from its types
    const bare = testSequelize(f.proxiedUrl, { ...known, appName: f.appName('bare'), plugin: false });
    f.proxy.refuse();
    try {
      const finished: number[] = [];
      const reads = Array.from({ length: 3 }, () =>
        outcome(sequelize.query('SELECT 1 AS n', { type: QueryTypes.SELECT }).finally(() => finished.push(Date.now()))),
      );
      // Several retries each, so that their delays are well past the scout's interval.
      await until('the reads to be backing off', () => getReconnectStats(sequelize).retries >= 9, 20_000);
      const before = getReconnectStats(sequelize).retries;
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      const reopenedAt = Date.now();
      f.proxy.accept();
      // A reference made at the same moment: what one new connection costs on this machine now.
      const [results, reference] = await Promise.all([Promise.all(reads), freshConnection(bare)]);
      lag.disable();
      for (const r of results) assert.ok(r.ok, !r.ok ? r.error.message : '');
      const last = Math.max(...finished) - reopenedAt;
      // The scout's connection (one interval, then a connect), then the other reads' own
      // connections, made together: about two fresh connections. Without the scout the last
      // would wait for its timer, up to 2000 ms.
      const boundMs = 2 * reference + SCOUT_INTERVAL_MS + 50 + Math.round(lag.max / 1e6);
      console.log(`# last read ${last} ms after reopening; a fresh connection then took ${reference} ms`);
      assert.ok(last < boundMs, `the last read finished ${last} ms after the path reopened (bound ${boundMs} ms)`);
      // The reads' own attempts after reopening succeed: one retry each at most (a sleeper's timer can end first).
      assert.ok(getReconnectStats(sequelize).retries - before <= 3, JSON.stringify(getReconnectStats(sequelize)));
      await assertPoolIntact(sequelize);
    } finally {
      f.proxy.accept();
      await Promise.all([sequelize.close(), bare.close()]);
    }
  });

  it('while nothing listens it knocks rather than logs in, and the reads go once the port opens', async () => {
    const server = new URL(adminUrl());
    const refusing = await refusingPort({ host: server.hostname, port: Number(server.port) });
    const sequelize = testSequelize(withHostPort(f.url, '127.0.0.1', refusing.port), {
      appName: f.appName(),
      pool: { max: 4 },
      plugin: { retries: 1000, deadlineMs: 60_000, backoff: { baseMs: 500, maxMs: 2000 } },
    });
    const known = { databaseVersion: '14.0.0' } as unknown as Options; // Sequelize's option, missing from its types
    const bare = testSequelize(f.url, { ...known, appName: f.appName('bare'), plugin: false });
    try {
      await assertKnocksThenBackAtOnce(sequelize, refusing, () => freshConnection(bare));
      await assertPoolIntact(sequelize);
    } finally {
      await Promise.all([sequelize.close(), bare.close()]);
      await refusing.close();
    }
  });
});
