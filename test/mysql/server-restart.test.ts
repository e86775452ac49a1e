/**
 * MariaDB shut down (SIGTERM: sessions closed, or SIGKILL: a crash) and restarted under load, and
 * switched to read_only as a demoted primary is, on a server of this file's own.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { describeWith, requireBinary } from '../support/binaries';
import { defineItem, outcome } from '../support/fixture';
import { MariaDbServer, mariadbRequirement } from '../support/mariadb';
import { assertMyPoolIntact, FAMILY, myFixture, type MyFixture } from '../support/mysql';
import { describeErrors, startWorkers, until } from '../support/workload';

/** Reads and idempotent upserts: every one of them may be retried. */
const mixed = (sequelize: Sequelize) => (worker: number, n: number) =>
  n % 2 === 0
    ? sequelize.query('SELECT SLEEP(0.01), 1 AS n', { type: QueryTypes.SELECT })
    : sequelize.query('INSERT INTO items (id, tag) VALUES (?, ?) ON DUPLICATE KEY UPDATE tag = VALUES(tag)', {
        replacements: [1000 + worker, `w${n}`],
        reconnect: { idempotent: true },
      } as object);

// A private server needs the binaries even when MARIADB_URL names a shared one.
const requirement = mariadbRequirement().failure ? mariadbRequirement() : requireBinary('mariadbd', 'mariadb-server');

describeWith(requirement, 'MySQL/MariaDB: the server restarted under load, or made read-only', () => {
  let server: MariaDbServer;
  let f: MyFixture;
  before(async () => {
    server = await MariaDbServer.start();
    f = await myFixture(server.url);
  });
  after(async () => {
    await f?.close().catch(() => {});
    await server?.destroy();
  });

  for (const dialect of FAMILY) {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      it(`${dialect}, ${signal}: with a deadline longer than the outage every operation succeeds; bare Sequelize fails`, async () => {
        const { sequelize } = await f.app(dialect, {
          proxied: false,
          pool: { max: 6 },
          plugin: { retries: 1000, deadlineMs: 30_000, backoff: { baseMs: 20, maxMs: 200 } },
        });
        const bare = await f.app(dialect, { proxied: false, plugin: false, pool: { max: 3 } });
        const plugin = startWorkers(6, mixed(sequelize));
        const bareWorkers = startWorkers(3, mixed(bare.sequelize));
        try {
          await until('both to be running', () => plugin.results.ok >= 10 && bareWorkers.results.ok >= 5);
          await server.stop(signal);
          await until('bare Sequelize to fail during the outage', () => bareWorkers.results.errors.length > 0);
          await server.start();
          const okAtRestart = plugin.results.ok;
          await until('the plugin workers to run again', () => plugin.results.ok >= okAtRestart + 30, 30_000);
          const [withPlugin, withoutPlugin] = await Promise.all([plugin.stop(), bareWorkers.stop()]);
          assert.deepEqual(describeErrors(withPlugin.errors), []);
          assert.ok(withoutPlugin.errors.length > 0);
          assert.ok(getReconnectStats(sequelize).reconnects > 0);
          await assertMyPoolIntact(sequelize);
        } finally {
          await Promise.all([plugin.stop(), bareWorkers.stop()]);
        }
      });
    }

    it(`${dialect}: retries a write that a read-only server refused (1290) once it is writable again`, async () => {
      const { sequelize } = await f.app(dialect, { proxied: false, plugin: { retries: 20, backoff: { baseMs: 20, maxMs: 100 } } });
      const Item = defineItem(sequelize);
      await Item.count();
      const failures: string[] = [];
      sequelize.addHook(
        'beforeReconnect' as never,
        (async (context: { failure: string }) => {
          failures.push(context.failure);
          // The failover completes: the server is a writable primary again.
          if (failures.length === 1) await f.admin((c) => c.query('SET GLOBAL read_only = 0'));
        }) as never,
      );
      await f.admin((c) => c.query('SET GLOBAL read_only = 1'));
      try {
        const result = await outcome(Item.create({ tag: `${dialect}-read-only` }));
        assert.ok(result.ok, !result.ok ? result.error.message : '');
      } finally {
        await f.admin((c) => c.query('SET GLOBAL read_only = 0'));
      }
      assert.equal(failures[0], 'read-only');
      assert.equal(await f.count(`${dialect}-read-only`), 1);
      await assertMyPoolIntact(sequelize);
    });

    it(`${dialect}: fails a write refused as read-only until its deadline as a ConnectionLostError`, async () => {
      const { sequelize } = await f.app(dialect, { proxied: false, plugin: { retries: 2, backoff: { baseMs: 10, maxMs: 20 } } });
      const Item = defineItem(sequelize);
      await Item.count();
      await f.admin((c) => c.query('SET GLOBAL read_only = 1'));
      try {
        const result = await outcome(Item.create({ tag: `${dialect}-still-read-only` }));
        assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
        assert.equal(result.error.mayHaveExecuted, false);
      } finally {
        await f.admin((c) => c.query('SET GLOBAL read_only = 0'));
      }
      assert.equal(await f.count(`${dialect}-still-read-only`), 0);
      await assertMyPoolIntact(sequelize);
    });
  }
});
