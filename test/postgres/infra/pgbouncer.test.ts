/**
 * Behind a real pgbouncer, in session and transaction pooling: its admin commands, its
 * timeouts, its restart, a PostgreSQL outage behind it, and the errors pgbouncer itself
 * sends. Each scenario runs bare Sequelize beside the plugin.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConnectionError, DatabaseError, QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../../src';
import { classifyQueryError } from '../../../src/dialects/postgres/classify';
import { describeWith } from '../../support/binaries';
import { admin, adminUrl, assertPoolIntact, terminateBackends, testSequelize, withHostPort } from '../../support/db';
import { FaultProxy } from '../../support/fault-proxy';
import { defineItem, gate, type Gate, outcome, useFixture } from '../../support/fixture';
import { PgBouncer, pgbouncerBinary } from '../../support/pgbouncer';
import { SUPERUSER, SUPERUSER_PASSWORD, TestServer } from '../../support/postgres';
import { describeErrors, startWorkers, until } from '../../support/workload';

const UPSERT = 'INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v';
const users = { [SUPERUSER]: SUPERUSER_PASSWORD };

/** A read held at `held` (certainly running when its server connection is killed). */
const heldRead = (sequelize: Sequelize, held: Gate) =>
  outcome(sequelize.query(`SELECT ${held.sql} AS slept, 42 AS answer`, { type: QueryTypes.SELECT }));

const occurrences = (text: string, fragment: string) => text.split(fragment).length - 1;

async function backendPid(sequelize: Sequelize): Promise<number> {
  const [row] = await sequelize.query<{ pid: number }>('SELECT pg_backend_pid() AS pid', { type: QueryTypes.SELECT });
  return row!.pid;
}

describeWith(pgbouncerBinary(), 'behind pgbouncer', () => {
  const f = useFixture();
  let database: string;
  const server = new URL(adminUrl());
  const postgres = { host: server.hostname, port: Number(server.port) };

  before(async () => {
    database = new URL(f.url).pathname.slice(1);
    await admin(f.url, (c) => c.query('CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL)'));
  });

  describe('session pooling', () => {
    let bouncer: PgBouncer;
    before(async () => {
      bouncer = await PgBouncer.start({ target: postgres, users, poolMode: 'session' });
    });
    after(async () => {
      await bouncer?.close();
    });

    it('`KILL db` under a read (then `RESUME`): bare Sequelize gets 08P01 "database removed", the plugin retries', async () => {
      const [bareApp, app] = [f.appName('bare'), f.appName()];
      const bare = testSequelize(bouncer.url(f.url), { appName: bareApp, plugin: false });
      const sequelize = testSequelize(bouncer.url(f.url), { appName: app });
      const held = await gate(f.url);
      const reads = Promise.all([heldRead(bare, held), heldRead(sequelize, held)]);
      try {
        await Promise.all([held.held(bareApp), held.held(app)]);
        await bouncer.admin(`KILL ${database}`);
      } finally {
        await held.open();
      }
      // A killed database stays paused (new logins wait, the plugin's among them) until RESUME.
      await bouncer.admin(`RESUME ${database}`);
      const [bareRead, read] = await reads;

      assert.ok(!bareRead.ok && bareRead.error instanceof DatabaseError);
      assert.equal(bareRead.error.message, 'database removed');
      const { code, severity } = bareRead.error['original'] as { code?: string; severity?: string };
      assert.deepEqual({ code, severity }, { code: '08P01', severity: 'FATAL' });
      assert.deepEqual(classifyQueryError(bareRead.error), { lost: true, mayHaveRun: true });
      assert.deepEqual(read.ok && read.value, [{ slept: '', answer: 42 }], !read.ok ? read.error.message : '');
      assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
      await assertPoolIntact(sequelize);
      await Promise.all([bare.close(), sequelize.close()]);
    });

    it('a server connection terminated under a read: pgbouncer forwards 57P01 and closes with "server conn crashed?"; the plugin retries', async () => {
      const [bareApp, app] = [f.appName('bare'), f.appName()];
      const bare = testSequelize(bouncer.url(f.url), { appName: bareApp, plugin: false });
      const sequelize = testSequelize(bouncer.url(f.url), { appName: app });
      const crashesBefore = occurrences(bouncer.log(), 'server conn crashed?');
      const held = await gate(f.url);
      const reads = Promise.all([heldRead(bare, held), heldRead(sequelize, held)]);
      try {
        await Promise.all([held.held(bareApp), held.held(app)]);
        await Promise.all([terminateBackends(adminUrl(), bareApp), terminateBackends(adminUrl(), app)]);
      } finally {
        await held.open();
      }
      const [bareRead, read] = await reads;

      assert.ok(!bareRead.ok && bareRead.error instanceof DatabaseError);
      assert.equal((bareRead.error['original'] as { code?: string }).code, '57P01');
      assert.deepEqual(read.ok && read.value, [{ slept: '', answer: 42 }], !read.ok ? read.error.message : '');
      assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
      await until(
        'pgbouncer to log the crashed server connections',
        () => occurrences(bouncer.log(), 'server conn crashed?') >= crashesBefore + 2,
      );
      await assertPoolIntact(sequelize);
      await Promise.all([bare.close(), sequelize.close()]);
    });

    it('a password pgbouncer rejects (08P01, not 28P01) fails at once without a hook, like 28P01', async () => {
      const u = new URL(bouncer.url(f.url));
      u.password = 'not-the-password';
      const sequelize = testSequelize(u.toString(), { appName: f.appName(), plugin: { retries: 5, backoff: { baseMs: 50, maxMs: 50 } } });
      const result = await outcome(sequelize.query('SELECT 1', { type: QueryTypes.SELECT }));
      // Sequelize's own error, as without the plugin, which also tells why nothing was retried.
      assert.ok(!result.ok && result.error instanceof ConnectionError && result.error instanceof ConnectionLostError);
      assert.equal(result.error.name, 'SequelizeConnectionError');
      assert.equal(result.error.message, 'password authentication failed');
      assert.equal((result.error['parent'] as { code?: string }).code, '08P01');
      assert.equal(result.error.reason, 'not-retryable');
      assert.equal(result.error.attempts, 1);
      assert.equal(getReconnectStats(sequelize).retries, 0, 'nothing could have changed the password: no retry');
      await sequelize.close();
    });

    it('pgbouncer restarted under load: bare Sequelize fails operations, the plugin none', async () => {
      const restarting = await PgBouncer.start({ target: postgres, users, poolMode: 'session' });
      const bare = testSequelize(restarting.url(f.url), { appName: f.appName('bare'), plugin: false });
      // A time budget that outlasts a slow relaunch, rather than a count of retries.
      const sequelize = testSequelize(restarting.url(f.url), {
        appName: f.appName(),
        plugin: { retries: 1000, deadlineMs: 20_000, backoff: { baseMs: 20, maxMs: 200 } },
      });
      const plugin = startWorkers(5, (worker, n) =>
        n % 2 === 0
          ? sequelize.query('SELECT pg_sleep(0.02), 1 AS n', { type: QueryTypes.SELECT })
          : sequelize.query(UPSERT, { bind: [`pgb-restart-${worker}`, n], reconnect: { idempotent: true } } as object),
      );
      const bareWorkers = startWorkers(5, () => bare.query('SELECT pg_sleep(0.02), 1 AS n', { type: QueryTypes.SELECT }));
      try {
        await until('both to run', () => plugin.results.ok >= 10 && bareWorkers.results.ok >= 5);
        // Down until bare Sequelize has failed, then a new process.
        await restarting.stop();
        await until('bare Sequelize to fail while pgbouncer is down', () => bareWorkers.results.errors.length > 0);
        await restarting.restart();
        const okAtRestart = plugin.results.ok;
        await until('the plugin to run through pgbouncer again', () => plugin.results.ok >= okAtRestart + 20);
        const [withPlugin, withoutPlugin] = await Promise.all([plugin.stop(), bareWorkers.stop()]);

        assert.deepEqual(describeErrors(withPlugin.errors), []);
        assert.ok(withoutPlugin.errors.length > 0, 'bare Sequelize fails while pgbouncer restarts');
        assert.ok(
          withoutPlugin.errors.every((e) => /Connection terminated unexpectedly|ECONNREFUSED|ECONNRESET|not queryable/.test(e.message)),
          describeErrors(withoutPlugin.errors).join('\n'),
        );
        assert.equal(getReconnectStats(sequelize).retriesFailed, 0);
        await assertPoolIntact(sequelize);
      } finally {
        await Promise.all([plugin.stop(), bareWorkers.stop()]);
        await Promise.all([bare.close(), sequelize.close()]);
        await restarting.close();
      }
    });
  });

  describe('transaction pooling', () => {
    let bouncer: PgBouncer;
    before(async () => {
      // Long enough that two statements in a row share a server connection on a slow machine too.
      bouncer = await PgBouncer.start({ target: postgres, users, poolMode: 'transaction', settings: { server_idle_timeout: 1 } });
    });
    after(async () => {
      await bouncer?.close();
    });

    it('`server_idle_timeout` and `RECONNECT` replace server connections unseen by either', async () => {
      for (const plugin of [false, {}] as const) {
        const sequelize = testSequelize(bouncer.url(f.url), { appName: f.appName(), plugin, pool: { max: 1 } });
        const first = await backendPid(sequelize);
        const closes = occurrences(bouncer.log(), 'server idle timeout');
        assert.equal(await backendPid(sequelize), first, 'an idle server connection is reused');
        await until(
          'server_idle_timeout to close the idle server connection',
          () => occurrences(bouncer.log(), 'server idle timeout') > closes,
        );
        const second = await backendPid(sequelize);
        assert.notEqual(second, first);
        await bouncer.admin(`RECONNECT ${database}`);
        const third = await backendPid(sequelize);
        assert.notEqual(third, second);
        if (plugin) assert.equal(getReconnectStats(sequelize).disconnects, 0);
        await sequelize.close();
      }
    });

    it('`client_idle_timeout` racing the next statement: bare Sequelize loses the INSERT, the plugin knows it never ran and retries it', async () => {
      const idle = await PgBouncer.start({ target: postgres, users, poolMode: 'transaction', settings: { client_idle_timeout: 0.4 } });
      // Over a real network pgbouncer's close can still be in flight when the app sends. A relay
      // between them holds the close back until the app has sent: that race on every run.
      const relay = await FaultProxy.start({ target: { host: idle.host, port: idle.port } });
      const url = withHostPort(f.url, relay.host, relay.port);
      try {
        const insertAsTheCloseArrives = async (sequelize: Sequelize, tag: string) => {
          const Item = defineItem(sequelize);
          await sequelize.query('SELECT 1', { type: QueryTypes.SELECT });
          const closes = relay.heldCloseCount;
          relay.holdReplies();
          await until('pgbouncer to close the idle client', () => relay.heldCloseCount > closes);
          return outcome(Item.create({ tag }));
        };
        const bare = testSequelize(url, { appName: f.appName('bare'), plugin: false, pool: { max: 1 } });
        const bareInsert = await insertAsTheCloseArrives(bare, 'idle-bare');
        // No check at checkout: the INSERT itself is to meet the close.
        const sequelize = testSequelize(url, { appName: f.appName(), pool: { max: 1 }, plugin: { validateIdleMs: false } });
        const insert = await insertAsTheCloseArrives(sequelize, 'idle-plugin');

        assert.ok(!bareInsert.ok && bareInsert.error instanceof DatabaseError, 'bare Sequelize fails the INSERT');
        assert.equal(bareInsert.error.message, 'client_idle_timeout');
        assert.equal((bareInsert.error['original'] as { code?: string }).code, '08P01');
        assert.equal(await f.count('idle-bare'), 0);
        assert.ok(insert.ok, !insert.ok ? insert.error.message : '');
        assert.equal(await f.count('idle-plugin'), 1, 'run once: retried because pgbouncer never passed it on');
        assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
        await assertPoolIntact(sequelize);
        await Promise.all([bare.close(), sequelize.close()]);
      } finally {
        await relay.close();
        await idle.close();
      }
    });
  });

  describe('PostgreSQL down behind pgbouncer', () => {
    let own: TestServer;
    let bouncer: PgBouncer;
    before(async () => {
      own = await TestServer.start();
      await admin(own.url, (c) =>
        c.query('CREATE TABLE items (id serial PRIMARY KEY, tag text NOT NULL, "createdAt" timestamptz, "updatedAt" timestamptz)'),
      );
      bouncer = await PgBouncer.start({
        target: { host: '127.0.0.1', port: own.port },
        users,
        poolMode: 'transaction',
        // Shorter than the outage, so that every statement waiting for a server gets pgbouncer's error.
        settings: { query_wait_timeout: 0.5 },
      });
    });
    after(async () => {
      await bouncer?.close();
      await own?.destroy();
    });

    it("pgbouncer's own errors (server_login_retry, query_wait_timeout) are lost connections whose statement never ran; the plugin waits the outage out", async () => {
      const url = bouncer.url(own.url);
      const bare = testSequelize(url, { appName: 'pgb_down_bare', plugin: false });
      // A time budget that outlasts a slow server restart, rather than a count of retries.
      const sequelize = testSequelize(url, {
        appName: 'pgb_down',
        plugin: { retries: 1000, deadlineMs: 20_000, backoff: { baseMs: 20, maxMs: 200 } },
      });
      const Item = defineItem(sequelize);
      const inserts: Array<{ tag: string; ok: boolean; mayHaveExecuted?: boolean }> = [];
      let reads = 0;
      const plugin = startWorkers(
        6,
        async (worker, n) => {
          if (worker % 2 === 0) {
            await sequelize.query('SELECT 1 AS n', { type: QueryTypes.SELECT });
            reads++;
            return;
          }
          const tag = `down-${worker}-${n}`;
          try {
            await Item.create({ tag });
            inserts.push({ tag, ok: true });
          } catch (error) {
            inserts.push({ tag, ok: false, mayHaveExecuted: (error as ConnectionLostError).mayHaveExecuted });
            throw error;
          }
        },
        10,
      );
      const bareWorkers = startWorkers(3, () => bare.query('SELECT 1 AS n', { type: QueryTypes.SELECT }), 10);
      const pgbouncerError = (e: Error) => /server login has been failing|query_wait_timeout/.test(e.message);
      const insertsOk = () => inserts.filter((i) => i.ok).length;
      try {
        await until('both to run', () => reads >= 5 && insertsOk() >= 5 && bareWorkers.results.ok >= 3);
        await own.stop();
        // Down until bare Sequelize has met pgbouncer's own errors.
        await until('bare Sequelize to get an error from pgbouncer', () => bareWorkers.results.errors.some(pgbouncerError));
        await own.start();
        await until('pgbouncer to reach the server again', async () => (await outcome(admin(url, (c) => c.query('SELECT 1')))).ok);
        const [readsAtRestart, insertsAtRestart] = [reads, insertsOk()];
        await until('the plugin to read and write again', () => reads >= readsAtRestart + 10 && insertsOk() >= insertsAtRestart + 10);
      } finally {
        await Promise.all([plugin.stop(), bareWorkers.stop()]);
      }
      const [withPlugin, withoutPlugin] = [plugin.results, bareWorkers.results];

      // Bare Sequelize meets pgbouncer's own errors, as a DatabaseError, or as pg's unwrapped error
      // when it comes from the statements Sequelize runs on a new connection. Each is a lost
      // connection whose statement never ran.
      const pgbouncerErrors = withoutPlugin.errors.filter(pgbouncerError);
      assert.ok(pgbouncerErrors.length > 0, describeErrors(withoutPlugin.errors).join('\n'));
      for (const error of pgbouncerErrors) {
        const driverError = (error as { original?: { code?: string } }).original ?? (error as { code?: string });
        assert.equal(driverError.code, '08P01');
        assert.deepEqual(classifyQueryError(error), { lost: true, mayHaveRun: false }, error.message);
      }

      // With the plugin no read fails, and every INSERT is either committed once or reported as possibly run.
      const failures = withPlugin.errors.filter((e) => !(e instanceof ConnectionLostError && e.mayHaveExecuted));
      assert.deepEqual(describeErrors(failures), []);
      const counts = await admin(own.url, async (c) => {
        const { rows } = await c.query<{ tag: string; n: number }>('SELECT tag, count(*)::int AS n FROM items GROUP BY tag');
        return new Map(rows.map((r) => [r.tag, r.n]));
      });
      for (const insert of inserts) {
        const n = counts.get(insert.tag) ?? 0;
        if (insert.ok) assert.equal(n, 1, `${insert.tag} reported committed`);
        else assert.ok(n <= 1, `${insert.tag} duplicated`);
      }
      await assertPoolIntact(sequelize);
      await Promise.all([bare.close(), sequelize.close()]);
    });
  });
});
