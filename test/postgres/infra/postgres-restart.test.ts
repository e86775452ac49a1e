/**
 * PostgreSQL shut down (fast: SIGINT, immediate: SIGQUIT) and restarted under 10 concurrent
 * workers, on a server of this file's own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../../src';
import { admin, assertPoolIntact, testSequelize } from '../../support/db';
import { TestServer } from '../../support/postgres';
import { describeErrors, startWorkers, until, type Workers } from '../../support/workload';

type Mode = 'fast' | 'immediate';

/**
 * Fast shutdown (SIGINT) terminates sessions with 57P01 and shuts down cleanly; immediate
 * shutdown (SIGQUIT) kills the backends and leaves crash recovery to the next start.
 */
async function shutdown(server: TestServer, mode: Mode): Promise<void> {
  if (mode === 'immediate') {
    const pid = await admin(server.url, async (c) => {
      const { rows } = await c.query<{ dir: string }>("SELECT current_setting('data_directory') AS dir");
      const { readFileSync } = await import('node:fs');
      return Number(readFileSync(`${rows[0]!.dir}/postmaster.pid`, 'utf8').split('\n')[0]);
    });
    process.kill(pid, 'SIGQUIT');
  }
  // Waits for the postmaster to exit (after SIGQUIT the SIGINT it sends changes nothing).
  await server.stop();
}

const UPSERT = 'INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v';

/** Reads and idempotent upserts: every one of them may be retried. */
const mixed = (sequelize: Sequelize) => (worker: number, n: number) =>
  n % 2 === 0
    ? sequelize.query('SELECT pg_sleep(0.01), 1 AS n', { type: QueryTypes.SELECT })
    : sequelize.query(UPSERT, { bind: [`w${worker}`, n], reconnect: { idempotent: true } } as object);

describe('PostgreSQL shut down and restarted under 10 concurrent workers', () => {
  let server: TestServer;
  before(async () => {
    server = await TestServer.start();
    await admin(server.url, (c) => c.query('CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL)'));
  });
  after(async () => {
    await server?.destroy();
  });

  for (const mode of ['fast', 'immediate'] as const) {
    it(`${mode} shutdown: with a deadline longer than the outage every operation succeeds; bare Sequelize fails`, async () => {
      const sequelize = testSequelize(server.url, {
        appName: `${mode}_plugin`,
        pool: { max: 10 },
        plugin: { retries: 1000, deadlineMs: 20_000, backoff: { baseMs: 20, maxMs: 200 } },
      });
      const bare = testSequelize(server.url, { appName: `${mode}_bare`, plugin: false, pool: { max: 5 } });
      const plugin = startWorkers(10, mixed(sequelize));
      const bareWorkers = startWorkers(5, mixed(bare));
      try {
        await until('both to be running', () => plugin.results.ok >= 10 && bareWorkers.results.ok >= 5);
        await shutdown(server, mode);
        await until('bare Sequelize to fail during the outage', () => bareWorkers.results.errors.length > 0);
        await server.start();
        const okAtRestart = plugin.results.ok;
        await until('the plugin workers to run again', () => plugin.results.ok >= okAtRestart + 30);
        const [withPlugin, withoutPlugin] = await Promise.all([plugin.stop(), bareWorkers.stop()]);

        assert.deepEqual(describeErrors(withPlugin.errors), []);
        assert.ok(withoutPlugin.errors.length > 0, 'bare Sequelize fails during the outage');
        const stats = getReconnectStats(sequelize);
        assert.ok(stats.connectFailures > 0, JSON.stringify(stats));
        assert.equal(stats.retriesFailed, 0);
        await assertPoolIntact(sequelize);
      } finally {
        await Promise.all([plugin.stop(), bareWorkers.stop()]);
        await Promise.all([sequelize.close(), bare.close()]);
      }
    });

    it(`${mode} shutdown: with a deadline shorter than the outage every caller gets a clear error by the deadline`, async () => {
      const deadlineMs = 300;
      const sequelize = testSequelize(server.url, {
        appName: `${mode}_deadline`,
        pool: { max: 10 },
        plugin: { retries: 1000, deadlineMs, backoff: { baseMs: 10, maxMs: 50 } },
      });
      const durations: number[] = [];
      let workers: Workers | undefined;
      try {
        await sequelize.query('SELECT 1', { type: QueryTypes.SELECT });
        await shutdown(server, mode);
        workers = startWorkers(10, async (worker, n) => {
          const started = Date.now();
          try {
            await mixed(sequelize)(worker, n);
          } finally {
            durations.push(Date.now() - started);
          }
        });
        const running = workers;
        await until('ten callers to give up', () => running.results.errors.length >= 10);
        const results = await workers.stop();
        workers = undefined;

        assert.equal(results.ok, 0, 'nothing can succeed while the server is down');
        assert.ok(results.errors.length >= 10, `${results.errors.length} errors`);
        for (const error of results.errors) {
          assert.ok(error instanceof ConnectionLostError, `${error.name}: ${error.message}`);
          assert.equal(error.reason, 'deadline-exceeded');
          // A statement may meet a pooled connection whose death the client has not yet seen
          // (an immediate shutdown says nothing); every other caller fails to connect.
          if (error.phase === 'connect') assert.equal(error.mayHaveExecuted, false);
          else assert.equal(error.phase, 'query');
        }
        const underStatements = results.errors.filter((e) => e instanceof ConnectionLostError && e.phase === 'query').length;
        assert.ok(underStatements <= 1, `${underStatements} statements met the one pooled connection`);
        // A guard that nobody waits far past the deadline, not a benchmark.
        assert.ok(Math.max(...durations) < deadlineMs + 2000, `slowest caller waited ${Math.max(...durations)} ms`);
      } finally {
        await workers?.stop();
        await server.start();
      }
      assert.deepEqual(await sequelize.query('SELECT 2 AS n', { type: QueryTypes.SELECT }), [{ n: 2 }]);
      await assertPoolIntact(sequelize);
      await sequelize.close();
    });
  }
});
