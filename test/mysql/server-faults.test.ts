import assert from 'node:assert/strict';
import { it } from 'node:test';
import { QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { describeWith } from '../support/binaries';
import { outcome } from '../support/fixture';
import { mariadbRequirement } from '../support/mariadb';
import { assertMyPoolIntact, FAMILY, type Family, myAdmin, useMyFixture } from '../support/mysql';
import { until } from '../support/workload';

/** `SET SESSION wait_timeout` on each new connection, through the driver's own API. */
function shortWaitTimeout(sequelize: Sequelize, dialect: Family, seconds: number): void {
  sequelize.addHook('afterConnect', async (connection: unknown) => {
    const sql = `SET SESSION wait_timeout = ${seconds}`;
    if (dialect === 'mariadb') {
      await (connection as { query(sql: string): Promise<unknown> }).query(sql);
      return;
    }
    await new Promise<void>((resolve, reject) =>
      (connection as { query(sql: string, cb: (e: Error | null) => void): void }).query(sql, (e) => (e ? reject(e) : resolve())),
    );
  });
}

const readN = (sequelize: Sequelize, n: number) =>
  sequelize.query<{ n: unknown }>(`SELECT ${n} AS n`, { type: QueryTypes.SELECT, plain: true }).then((row) => Number(row!.n));

for (const dialect of FAMILY) {
  describeWith(mariadbRequirement(), `${dialect}: server timeouts, limits and credentials`, () => {
    const f = useMyFixture();

    it('replaces connections the server closed after wait_timeout', async () => {
      const { sequelize, user } = await f.app(dialect, { pool: { max: 3 }, proxied: false });
      shortWaitTimeout(sequelize, dialect, 1);
      await Promise.all([1, 2, 3].map((n) => sequelize.query(`SELECT SLEEP(0.05), ${n}`)));
      await until('the server closed the idle sessions', async () => (await f.sessions(user)) === 0);
      assert.deepEqual(await Promise.all([1, 2, 3].map((n) => readN(sequelize, n))), [1, 2, 3]);
      await assertMyPoolIntact(sequelize);
    });

    it('retries reads whose connection wait_timeout closed while the statement was on its way', async () => {
      const { sequelize, user } = await f.app(dialect, { pool: { max: 3 }, plugin: { validateIdleMs: false } });
      shortWaitTimeout(sequelize, dialect, 1);
      await Promise.all([1, 2, 3].map((n) => sequelize.query(`SELECT SLEEP(0.05), ${n}`)));
      // The close reaches the client only after its next statement left: a slow network's race.
      f.proxy.holdReplies();
      await until('the server closed the idle sessions', async () => (await f.sessions(user)) === 0);
      const results = await Promise.all([1, 2, 3].map((n) => outcome(readN(sequelize, n))));
      assert.deepEqual(
        results.map((r) => (r.ok ? r.value : r.error.message)),
        [1, 2, 3],
      );
      await assertMyPoolIntact(sequelize);
    });

    it('waits for a free connection slot (MAX_USER_CONNECTIONS reached) instead of failing the read', async () => {
      const { sequelize, user, password } = await f.app(dialect, {
        proxied: false,
        plugin: { retries: 50, backoff: { baseMs: 20, maxMs: 100 } },
      });
      await f.admin((c) => c.query(`ALTER USER '${user}'@'%' WITH MAX_USER_CONNECTIONS 1`));
      const url = new URL(f.url);
      url.username = user;
      url.password = password;
      url.pathname = `/${f.database}`;
      const read = await myAdmin(url.toString(), async () => {
        // The test's session holds the only slot until a login of the instance was refused.
        const pending = outcome(readN(sequelize, 7));
        await until('a login refused for the limit', () => getReconnectStats(sequelize).connectFailures > 0);
        return { pending };
      });
      const result = await read.pending;
      assert.deepEqual(result.ok ? result.value : result.error.message, 7);
      const stats = getReconnectStats(sequelize);
      assert.ok(stats.connectFailures >= 1);
      assert.equal(await readN(sequelize, 8), 8);
      await assertMyPoolIntact(sequelize);
    });

    it('logs in with a rotated password (ALTER USER … IDENTIFIED BY) that a beforeReconnect hook fetched', async () => {
      const { sequelize, user } = await f.app(dialect, { proxied: false });
      let current = 'unused';
      sequelize.addHook(
        'beforeReconnect' as never,
        ((context: { config: { password?: string } }) => {
          context.config.password = current;
        }) as never,
      );
      assert.equal(await readN(sequelize, 1), 1);
      current = `rotated${Date.now()}`;
      await f.admin((c) => c.query(`ALTER USER '${user}'@'%' IDENTIFIED BY '${current}'`));
      assert.ok((await f.kill(user)) >= 1);
      assert.equal(await readN(sequelize, 2), 2);
      await assertMyPoolIntact(sequelize);
    });

    it('fails a login refused for a wrong password without a hook at once, as a ConnectionLostError', async () => {
      const { sequelize, user } = await f.app(dialect, { proxied: false });
      assert.equal(await readN(sequelize, 1), 1);
      await f.admin((c) => c.query(`ALTER USER '${user}'@'%' IDENTIFIED BY 'someone-else-knows'`));
      await f.kill(user);
      const started = Date.now();
      const result = await outcome(readN(sequelize, 2));
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
      assert.match(result.error.message, /Access denied/);
      assert.ok(!result.error.message.includes('someone-else-knows'), 'no secret in the error');
      assert.ok(Date.now() - started < 5_000, 'not retried until the deadline');
      await assertMyPoolIntact(sequelize);
    });
  });
}
