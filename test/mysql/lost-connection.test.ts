import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DatabaseError, QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { describeWith } from '../support/binaries';
import { defineItem, outcome } from '../support/fixture';
import { createConnection } from 'mysql2/promise';
import { mariadbRequirement, mariadbUrl } from '../support/mariadb';
import { assertMyPoolIntact, FAMILY, myKilledAtGate, type MyFixture, useMyFixture } from '../support/mysql';
import { until } from '../support/workload';

/** Runs a read and kills its session while it certainly runs (held at a gate); any retry runs after the kill. */
const readKilledMidway = (f: MyFixture, sequelize: Sequelize, user: string) =>
  myKilledAtGate(f, user, (held) => sequelize.query(`SELECT ${held.sql} AS gate, 42 AS answer`, { type: QueryTypes.SELECT }), 1);

for (const dialect of FAMILY) {
  describeWith(mariadbRequirement(), `${dialect}: a connection lost under a statement`, () => {
    const f = useMyFixture();

    it('fails a read killed mid-query in bare Sequelize; the plugin retries it on a new connection', async () => {
      const bare = await f.app(dialect, { plugin: false, proxied: false });
      const bareResult = await readKilledMidway(f, bare.sequelize, bare.user);
      assert.ok(!bareResult.ok && bareResult.error instanceof DatabaseError, 'bare Sequelize surfaces a DatabaseError');

      const app = await f.app(dialect, { proxied: false });
      const result = await readKilledMidway(f, app.sequelize, app.user);
      assert.ok(result.ok, !result.ok ? result.error.message : '');
      assert.equal(Number((result.value as Array<{ answer: unknown }>)[0]!.answer), 42);
      const stats = getReconnectStats(app.sequelize);
      assert.equal(stats.disconnects, 1);
      assert.equal(stats.retriesSucceeded, 1);
      await assertMyPoolIntact(app.sequelize);
    });

    it('replaces idle connections killed, reset, cut or forgotten by a proxy without the caller noticing', async () => {
      const { sequelize, user } = await f.app(dialect, { pool: { max: 3 } });
      const read = async (n: number) => sequelize.query<{ n: unknown }>(`SELECT ${n} AS n`, { type: QueryTypes.SELECT, plain: true });
      await Promise.all([1, 2, 3].map((n) => sequelize.query(`SELECT SLEEP(0.05), ${n}`)));
      assert.ok((await f.kill(user)) >= 1);
      assert.equal(Number((await read(1))!.n), 1);
      f.proxy.resetAll();
      assert.equal(Number((await read(2))!.n), 2);
      f.proxy.cutAll();
      assert.equal(Number((await read(3))!.n), 3);
      f.proxy.forgetAll();
      assert.equal(Number((await read(4))!.n), 4);
      await assertMyPoolIntact(sequelize);
    });

    it('passes KILL QUERY (1317) through as the statement error and keeps the connection', async () => {
      const { sequelize, user } = await f.app(dialect, { pool: { max: 1 }, proxied: false });
      const idOf = async () => {
        const row = await sequelize.query<{ id: unknown }>('SELECT CONNECTION_ID() AS id', { type: QueryTypes.SELECT, plain: true });
        return Number(row!.id);
      };
      const before = await idOf();
      // A row lock the test holds: KILL QUERY interrupts a lock wait with 1317 (GET_LOCK and SLEEP just return).
      const row = Number((await defineItem(sequelize).create({ tag: `${dialect}-locked` })).get('id'));
      const holder = await createConnection(mariadbUrl());
      holder.on('error', () => {});
      await holder.query(`START TRANSACTION`);
      await holder.query(`SELECT id FROM ${f.database}.items WHERE id = ? FOR UPDATE`, [row]);
      const read = outcome(sequelize.query(`SELECT id FROM items WHERE id = ${row} FOR UPDATE`, { type: QueryTypes.SELECT }));
      await until('the read waits for the row lock', async () => (await f.sessions(user, 'FOR UPDATE')) === 1);
      assert.equal(await f.kill(user, 'QUERY'), 1);
      const result = await read;
      await holder.end();
      assert.ok(!result.ok && !(result.error instanceof ConnectionLostError), 'not a lost connection');
      assert.equal((result.error as unknown as { original: { errno: number } }).original.errno, 1317);
      assert.equal(await idOf(), before, 'the same session serves the next statement');
      assert.equal(getReconnectStats(sequelize).disconnects, 0);
      await assertMyPoolIntact(sequelize);
    });

    it('does not retry a write whose reply was lost: one row, never two, reported as may have run', async () => {
      const { sequelize } = await f.app(dialect);
      const Item = defineItem(sequelize);
      await Item.count();
      // mysql2 prepares a statement with parameters, then sends COM_STMT_EXECUTE (0x17) without its text.
      // eslint-disable-next-line no-control-regex -- the command byte of a binary protocol packet
      f.proxy.arm(dialect === 'mysql' ? new RegExp('^[\\s\\S]{4}\u0017') : 'INSERT INTO', 'swallow-reply');
      const result = await outcome(Item.create({ tag: `${dialect}-ambiguous` }));
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
      assert.equal(result.error.mayHaveExecuted, true);
      assert.equal(await f.count(`${dialect}-ambiguous`), 1);
      await assertMyPoolIntact(sequelize);
    });

    it('a path that died silently, then closed: the read is retried, the write is one row or reported, never two', async () => {
      const reader = (await f.app(dialect, { pool: { max: 1 }, plugin: { validateIdleMs: false } })).sequelize;
      const writer = (await f.app(dialect, { pool: { max: 1 }, plugin: { validateIdleMs: false } })).sequelize;
      const Item = defineItem(writer);
      await Promise.all([reader.query('SELECT 1'), Item.count()]);
      f.proxy.muteAll();
      const tag = `${dialect}-muted`;
      const read = outcome(reader.query('SELECT 5 AS n', { type: QueryTypes.SELECT }));
      const write = outcome(Item.create({ tag }));
      // A keepalive or timeout ends the dead path at last.
      f.proxy.closeStranded();
      const [r, w] = await Promise.all([read, write]);
      assert.ok(r.ok, !r.ok ? r.error.message : '');
      assert.ok(w.ok || (w.error instanceof ConnectionLostError && w.error.mayHaveExecuted), !w.ok ? w.error.message : '');
      assert.equal(await f.count(tag), w.ok ? 1 : 0);
      await assertMyPoolIntact(reader);
      await assertMyPoolIntact(writer);
    });

    it('retries a write the driver refused on a connection it knew closed (never sent)', async () => {
      const { sequelize } = await f.app(dialect, { pool: { max: 1 }, plugin: { validateIdleMs: false } });
      const Item = defineItem(sequelize);
      await Item.count();
      let broken = false;
      sequelize.addHook('afterPoolAcquire', (connection: unknown) => {
        if (broken) return;
        broken = true;
        // The close that crosses a checkout: the driver refuses the next command without sending it.
        (connection as { destroy(): void }).destroy();
      });
      await Item.create({ tag: `${dialect}-unsent` });
      assert.equal(await f.count(`${dialect}-unsent`), 1);
      const stats = getReconnectStats(sequelize);
      assert.equal(stats.retriesSucceeded, 1);
      await assertMyPoolIntact(sequelize);
    });

    it('a write on a connection reset while idle: mysql2 knows it was never written and retries it; never two rows', async () => {
      const { sequelize } = await f.app(dialect, { pool: { max: 1 }, plugin: { validateIdleMs: false } });
      const Item = defineItem(sequelize);
      await Item.count();
      const tag = `${dialect}-after-reset`;
      // The reset reaches the client's kernel at once, its event loop only later: the write fails (write ECONNRESET).
      f.proxy.resetAll();
      const result = await outcome(Item.create({ tag }));
      if (dialect === 'mysql') {
        assert.ok(result.ok, !result.ok ? result.error.message : '');
        assert.equal(await f.count(tag), 1);
      } else {
        // The connector pipelines commands, so a failed write does not prove that nothing was sent.
        assert.ok(result.ok || result.error instanceof ConnectionLostError, !result.ok ? result.error.message : '');
        assert.equal(await f.count(tag), result.ok ? 1 : 0);
      }
      await assertMyPoolIntact(sequelize);
    });

    it('runs beforeReconnect and afterReconnect hooks, and leaves no session behind on close', async () => {
      const { sequelize, user } = await f.app(dialect, { proxied: false });
      const seen: string[] = [];
      sequelize.addHook(
        'beforeReconnect' as never,
        ((context: { failure: string }) => void seen.push(`before:${context.failure}`)) as never,
      );
      sequelize.addHook('afterReconnect' as never, (() => void seen.push('after')) as never);
      const result = await readKilledMidway(f, sequelize, user);
      assert.ok(result.ok, !result.ok ? result.error.message : '');
      assert.deepEqual(seen, ['before:lost', 'after']);
      await assertMyPoolIntact(sequelize);
      await sequelize.close();
      await until('every session of the instance ended', async () => (await f.sessions(user)) === 0);
    });
  });
}

for (const dialect of FAMILY) {
  describeWith(mariadbRequirement(), `${dialect}: a connection whose session settings failed`, () => {
    const f = useMyFixture();

    it("is closed, not leaked, when Sequelize's SET time_zone fails after the login", async () => {
      // An offset the server refuses: the login succeeds, the SET that follows fails (1298).
      const { sequelize, user } = await f.app(dialect, { proxied: false, timezone: '+15:00' });
      const result = await outcome(sequelize.query('SELECT 1', { type: QueryTypes.SELECT }));
      assert.ok(!result.ok, 'the connect fails');
      await until('no session of the instance left on the server', async () => (await f.sessions(user)) === 0, 5_000);
      await assertMyPoolIntact(sequelize);
    });
  });
}
