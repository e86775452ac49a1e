import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { ConnectionAcquireTimeoutError, ConnectionError, QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats, type ReconnectContext } from '../../src';
import { admin, adminUrl, assertPoolIntact, poolState, terminateBackends, testSequelize, withDatabase } from '../support/db';
import { outcome, useFixture } from '../support/fixture';
import { TestServer } from '../support/postgres';
import { describeErrors, startWorkers, until } from '../support/workload';

const read = (sequelize: Sequelize) => async () => {
  const [row] = await sequelize.query<{ n: number }>('SELECT 1 AS n', { type: QueryTypes.SELECT });
  assert.equal(row?.n, 1);
};

describe('a server that restarts', () => {
  let server: TestServer;
  before(async () => {
    server = await TestServer.start();
  });
  after(async () => {
    await server.destroy();
  });

  it('costs bare Sequelize failed reads; with the plugin every read waits it out within the deadline', async () => {
    const opts = { plugin: { retries: 100, deadlineMs: 20_000, backoff: { baseMs: 20, maxMs: 200 } } } as const;
    const sequelize = testSequelize(server.url, { appName: 'restart', ...opts, pool: { max: 10 } });
    const bare = testSequelize(server.url, { appName: 'restart_bare', plugin: false, pool: { max: 10 } });
    const workers = startWorkers(10, read(sequelize));
    const bareWorkers = startWorkers(5, read(bare));
    try {
      await until('both to be reading', () => workers.results.ok >= 10 && bareWorkers.results.ok >= 5);
      await server.stop();
      await until('bare Sequelize to fail during the outage', () => bareWorkers.results.errors.length > 0);
      await server.start();
      const okAtRestart = workers.results.ok;
      await until('the plugin workers to read again', () => workers.results.ok >= okAtRestart + 30);
    } finally {
      await Promise.all([workers.stop(), bareWorkers.stop()]);
    }
    assert.deepEqual(describeErrors(workers.results.errors), []);
    const stats = getReconnectStats(sequelize);
    assert.ok(stats.connectFailures > 0, JSON.stringify(stats));
    assert.equal(stats.retriesFailed, 0);
    await assertPoolIntact(sequelize);
    await Promise.all([sequelize.close(), bare.close()]);
  });

  it('with a deadline shorter than the outage, every caller gets a clear error by the deadline', async () => {
    const sequelize = testSequelize(server.url, {
      appName: 'deadline',
      plugin: { retries: 1000, deadlineMs: 300, backoff: { baseMs: 10, maxMs: 50 } },
    });
    await sequelize.query('SELECT 1');
    await server.stop();
    try {
      const started = Date.now();
      const results = await Promise.all(
        Array.from({ length: 5 }, () => outcome(sequelize.query('SELECT 1 AS n', { type: QueryTypes.SELECT }))),
      );
      const elapsed = Date.now() - started;
      for (const r of results) {
        assert.ok(!r.ok && r.error instanceof ConnectionLostError, !r.ok ? `${r.error.name}: ${r.error.message}` : 'resolved');
        assert.ok(r.error instanceof ConnectionError);
        assert.equal(r.error.reason, 'deadline-exceeded');
        assert.equal(r.error.mayHaveExecuted, false);
        assert.ok(r.error.attempts < 1000);
      }
      // Not a timing benchmark: a guard that nothing hangs far past a 300 ms deadline.
      assert.ok(elapsed < 5000, `took ${elapsed} ms`);
    } finally {
      await server.start();
    }
    assert.deepEqual(await sequelize.query('SELECT 2 AS n', { type: QueryTypes.SELECT }), [{ n: 2 }]);
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });
});

describe('refused and rejected connections', () => {
  const f = useFixture();

  it('retries connections refused for a while (a proxy or pgbouncer that turns clients away)', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: { retries: 30, backoff: { baseMs: 20, maxMs: 60 } } });
    const bare = testSequelize(f.proxiedUrl, { appName: f.appName('bare'), plugin: false });
    f.proxy.refuse(400);
    const [withPlugin, withoutPlugin] = await Promise.all([
      outcome(sequelize.query('SELECT 5 AS n', { type: QueryTypes.SELECT })),
      outcome(bare.query('SELECT 5 AS n', { type: QueryTypes.SELECT })),
    ]);
    assert.deepEqual(withPlugin.ok && withPlugin.value, [{ n: 5 }]);
    assert.ok(!withoutPlugin.ok && withoutPlugin.error instanceof ConnectionError);
    assert.ok(getReconnectStats(sequelize).connectFailures >= 1);
    await assertPoolIntact(sequelize);
    await Promise.all([sequelize.close(), bare.close()]);
  });

  it('never waits for a replacement connection past the deadline, even from a server that never answers', async () => {
    const held: Socket[] = [];
    const blackHole = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const address = blackHole.address() as { port: number };
    // The pool would wait 10 s for a connection; the plugin's 300 ms deadline must win.
    const sequelize = testSequelize(f.proxiedUrl, {
      appName: f.appName(),
      pool: { acquire: 10_000 },
      plugin: { retries: 5, deadlineMs: 300, validateIdleMs: false },
    });
    await sequelize.query('SELECT 1');
    const server = new URL(f.url);
    f.proxy.setTarget({ host: '127.0.0.1', port: address.port });
    f.proxy.forgetAll();
    const started = Date.now();
    const result = await outcome(sequelize.query('SELECT 1 AS n', { type: QueryTypes.SELECT }));
    const elapsed = Date.now() - started;
    f.proxy.setTarget({ host: server.hostname, port: Number(server.port) });
    held.forEach((s) => s.destroy());
    blackHole.close();
    assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
    assert.equal(result.error.reason, 'deadline-exceeded');
    assert.ok(elapsed < 5000, `waited ${elapsed} ms`);
    await sequelize.close();
  });

  it("reports a connect that hangs until the pool's acquire timeout as a lost connection of Sequelize's class, not a full pool", async () => {
    const held: Socket[] = [];
    const blackHole = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const { port } = blackHole.address() as { port: number };
    const sequelize = testSequelize(`postgres://nobody:secret@127.0.0.1:${port}/nowhere`, {
      appName: f.appName(),
      pool: { max: 2, acquire: 300 },
      // Sequelize's version probe would hang outside the pool, bare or not (an option its types omit).
      ...({ databaseVersion: '16.0.0' } as object),
      plugin: { retries: 2, deadlineMs: 5000, backoff: { baseMs: 10, maxMs: 50 } },
    });
    try {
      const result = await outcome(sequelize.query('SELECT 1'));
      assert.ok(
        !result.ok && result.error instanceof ConnectionLostError,
        !result.ok ? `${result.error.name}: ${result.error.message}` : 'resolved',
      );
      assert.ok(result.error instanceof ConnectionAcquireTimeoutError, 'the class bare Sequelize throws');
      assert.equal(result.error.phase, 'connect');
      assert.equal(result.error.mayHaveExecuted, false);
    } finally {
      held.forEach((s) => s.destroy());
      blackHole.close();
      await sequelize.close();
    }
  });

  it('waits out "too many connections" (53300) until a slot frees up', async () => {
    const role = `limited_${process.pid}`;
    await admin(f.url, (c) => c.query(`CREATE ROLE ${role} LOGIN PASSWORD 'limited-secret' CONNECTION LIMIT 1`));
    const u = new URL(f.url);
    u.username = role;
    u.password = 'limited-secret';
    const holder = new Client({ connectionString: u.toString() });
    await holder.connect();
    let released = false;
    try {
      const sequelize = testSequelize(u.toString(), { appName: f.appName(), plugin: { retries: 50, backoff: { baseMs: 20, maxMs: 50 } } });
      const bare = testSequelize(u.toString(), { appName: f.appName('bare'), plugin: false });
      const bareResult = await outcome(bare.query('SELECT 1'));
      assert.ok(!bareResult.ok, 'bare Sequelize cannot connect');
      assert.equal((bareResult.error['parent'] as { code?: string }).code, '53300', bareResult.error.message);
      // The slot frees up once the plugin has been refused: no timing to guess.
      sequelize.addHook('beforeReconnect', async () => {
        if (released) return;
        released = true;
        await holder.end();
      });
      assert.deepEqual(await sequelize.query('SELECT 6 AS n', { type: QueryTypes.SELECT }), [{ n: 6 }]);
      assert.ok(released, 'the plugin was refused first');
      assert.ok(getReconnectStats(sequelize).connectFailures >= 1, JSON.stringify(getReconnectStats(sequelize)));
      await Promise.all([sequelize.close(), bare.close()]);
    } finally {
      // Not twice: pg before 8.7 never settles a second end().
      if (!released) await holder.end().catch(() => {});
      await admin(f.url, (c) => c.query(`DROP ROLE IF EXISTS ${role}`));
    }
  });

  it('does not retry an error that is not about the connection (unknown database), and says so', async () => {
    const sequelize = testSequelize(withDatabase(f.url, 'no_such_database'), { appName: f.appName(), plugin: { retries: 5 } });
    const result = await outcome(sequelize.query('SELECT 1'));
    // Sequelize's own error, as without the plugin, which also tells why nothing was retried.
    assert.ok(!result.ok && result.error instanceof ConnectionError && result.error instanceof ConnectionLostError);
    assert.equal(result.error.name, 'SequelizeConnectionError');
    assert.match(result.error.message, /^database "no_such_database" does not exist$/);
    assert.equal(result.error.reason, 'not-retryable');
    assert.equal(result.error.attempts, 1);
    assert.equal(result.error.mayHaveExecuted, false);
    assert.equal(getReconnectStats(sequelize).retries, 0);
    await sequelize.close();
  });
});

describe('rotated credentials (28P01)', () => {
  const f = useFixture();
  const role = `rotating_${process.pid}`;
  const secrets = { current: 'first-secret-value-1' };
  before(async () => {
    await admin(f.url, async (c) => {
      await c.query(`CREATE ROLE ${role} LOGIN PASSWORD '${secrets.current}'`);
      await c.query(`GRANT ALL ON TABLE items TO ${role}`);
    });
  });
  after(async () => {
    await admin(adminUrl(), (c) => c.query(`DROP ROLE IF EXISTS ${role}`));
  });

  function appUrl(password: string): string {
    const u = new URL(f.url);
    u.username = role;
    u.password = password;
    return u.toString();
  }

  /**
   * Kills the app's idle sessions and waits until its pool has noticed, so the next statement
   * opens a new connection. A connection still being opened when the sessions were killed (for a
   * caller that another connection served meanwhile: the scout's, say) arrives alive afterwards:
   * killed in a second round. A killed connection the pool kept would stay counted.
   */
  async function killIdle(sequelize: Sequelize, appName: string): Promise<void> {
    const until = Date.now() + 3000;
    do {
      await terminateBackends(adminUrl(), appName);
      for (let i = 0; i < 40 && poolState(sequelize).size > 0; i++) await new Promise((r) => setTimeout(r, 5));
    } while (poolState(sequelize).size > 0 && Date.now() < until);
    assert.equal(poolState(sequelize).size, 0, 'the pool dropped the killed connection');
  }

  async function rotate(sequelize: Sequelize, appName: string): Promise<void> {
    secrets.current = `rotated-secret-${Math.random().toString(36).slice(2)}`;
    await admin(f.url, (c) => c.query(`ALTER ROLE ${role} PASSWORD '${secrets.current}'`));
    await killIdle(sequelize, appName);
  }

  function assertNoSecret(value: unknown, ...secretValues: string[]): void {
    const e = value as Error & { parent?: Error };
    const text = [e.message, e.stack, JSON.stringify(e), e.parent?.message, e.parent?.stack].join('\n');
    for (const secret of secretValues) assert.ok(!text.includes(secret), 'a password appears in the error');
  }

  it('fails at once without a beforeReconnect hook: nothing could have refreshed the password', async () => {
    const app = f.appName();
    const first = secrets.current;
    const sequelize = testSequelize(appUrl(first), { appName: app, plugin: { retries: 5 } });
    await sequelize.query('SELECT 1');
    await rotate(sequelize, app);
    const result = await outcome(sequelize.query('SELECT 1', { type: QueryTypes.SELECT }));
    assert.ok(!result.ok && result.error instanceof ConnectionError);
    assert.equal((result.error.parent as { code?: string } | undefined)?.code, '28P01');
    assert.ok(result.error instanceof ConnectionLostError);
    assert.equal(result.error.reason, 'not-retryable');
    assert.equal(result.error.attempts, 1);
    assert.equal(getReconnectStats(sequelize).retries, 0);
    assertNoSecret(result.error, first, secrets.current);
    await sequelize.close();
  });

  it('reconnects with the password a beforeReconnect hook fetched, and keeps using it', async () => {
    const app = f.appName();
    const sequelize = testSequelize(appUrl(secrets.current), { appName: app });
    const contexts: ReconnectContext[] = [];
    sequelize.addHook('beforeReconnect', async (ctx) => {
      contexts.push(ctx);
      ctx.config.password = await Promise.resolve(secrets.current); // a stand-in for Vault
    });
    await sequelize.query('SELECT 1');
    await rotate(sequelize, app);
    assert.deepEqual(await sequelize.query('SELECT 3 AS n', { type: QueryTypes.SELECT }), [{ n: 3 }]);
    assert.equal(contexts.length, 1);
    assert.equal(contexts[0]!.phase, 'connect');
    assert.equal((contexts[0]!.error as ConnectionError & { parent: { code: string } }).parent.code, '28P01');
    // The new password sticks: later connections need no hook.
    await killIdle(sequelize, app);
    assert.deepEqual(await sequelize.query('SELECT 4 AS n', { type: QueryTypes.SELECT }), [{ n: 4 }]);
    assert.equal(contexts.length, 1);
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it('keeps every password out of the error when the refreshed one is wrong too', async () => {
    const app = f.appName();
    const stale = secrets.current;
    const sequelize = testSequelize(appUrl(stale), { appName: app, plugin: { retries: 2, backoff: { baseMs: 1, maxMs: 2 } } });
    sequelize.addHook('beforeReconnect', (ctx) => {
      ctx.config.password = 'also-wrong-password-x';
    });
    await sequelize.query('SELECT 1');
    await rotate(sequelize, app);
    const result = await outcome(sequelize.query(`SELECT 'x' AS x`, { type: QueryTypes.SELECT }));
    assert.ok(!result.ok && result.error instanceof ConnectionLostError);
    assert.equal(result.error.phase, 'connect');
    assert.equal(result.error.reason, 'retries-exhausted');
    assertNoSecret(result.error, stale, 'also-wrong-password-x', secrets.current);
    await sequelize.close();
  });
});
