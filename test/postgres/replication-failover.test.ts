import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DatabaseError, QueryTypes, Sequelize } from 'sequelize';
import { autoreconnect, ConnectionLostError, getReconnectStats, type ReconnectContext } from '../../src';
import { admin, assertPoolIntact, createDatabase, uniqueAppName } from '../support/db';
import { FaultProxy } from '../support/fault-proxy';
import { StalledListener } from '../support/stalled';
import { outcome } from '../support/fixture';
import { TestServer } from '../support/postgres';
import { until } from '../support/workload';

interface Host {
  host: string;
  port: number;
}

function hostOf(url: string): Host {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

function credentials(url: string) {
  const u = new URL(url);
  return { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1) };
}

describe('read replicas', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let replicaA: FaultProxy;
  let replicaB: FaultProxy;
  before(async () => {
    db = await createDatabase();
    await admin(db.url, (c) => c.query("CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('hello')"));
    // Two "replicas": proxies to the same server, so each can fail on its own.
    replicaA = await FaultProxy.start({ target: hostOf(db.url) });
    replicaB = await FaultProxy.start({ target: hostOf(db.url) });
  });
  after(async () => {
    await Promise.all([replicaA.close(), replicaB.close()]);
    await db.drop();
  });

  function replicated(appName: string, reads: FaultProxy[]): Sequelize {
    const { username, password, database } = credentials(db.url);
    return new Sequelize(database, username, password, {
      dialect: 'postgres',
      logging: false,
      dialectOptions: { application_name: appName },
      replication: {
        read: reads.map((r) => ({ host: r.host, port: r.port, username, password })),
        write: { ...hostOf(db.url), username, password },
      },
    });
  }

  const readNote = (s: Sequelize) => s.query<{ body: string }>('SELECT body FROM notes', { type: QueryTypes.SELECT });

  it('keeps reads working while one of two replicas refuses connections, without spending a retry', async () => {
    const sequelize = replicated(uniqueAppName('repl'), [replicaA, replicaB]).use(autoreconnect({ retries: 0 }));
    replicaA.refuse();
    try {
      const results = await Promise.all(Array.from({ length: 12 }, () => outcome(readNote(sequelize))));
      assert.deepEqual(
        results.map((r) => (r.ok ? r.value[0]?.body : r.error.message)),
        Array(12).fill('hello'),
      );
      assert.equal(replicaA.acceptedCount, 0);
      assert.ok(replicaB.acceptedCount >= 1);
    } finally {
      replicaA.accept();
    }
    await sequelize.close();
  });

  it("tells hooks the pool and host, and lets a hook redirect one replica without touching the primary's settings", async () => {
    const sequelize = replicated(uniqueAppName('repl'), [replicaA]).use(autoreconnect({ retries: 2, backoff: { baseMs: 1, maxMs: 2 } }));
    const contexts: Array<Pick<ReconnectContext, 'phase' | 'pool' | 'host'> & { port: unknown }> = [];
    sequelize.addHook('beforeReconnect', (ctx) => {
      contexts.push({ phase: ctx.phase, pool: ctx.pool, host: ctx.host, port: ctx.config.port });
      if (ctx.pool === 'read') ctx.config.port = replicaB.port; // replica A is gone for good
    });
    assert.deepEqual(await readNote(sequelize), [{ body: 'hello' }]);
    replicaA.refuse();
    replicaA.forgetAll();
    try {
      assert.deepEqual(await readNote(sequelize), [{ body: 'hello' }]);
    } finally {
      replicaA.accept();
    }
    assert.deepEqual(contexts[0], { phase: 'query', pool: 'read', host: replicaA.host, port: replicaA.port });
    const config = (sequelize as unknown as { connectionManager: { config: { replication: { write: Host; read: Host[] } } } })
      .connectionManager.config;
    assert.equal(config.replication.read[0]!.port, replicaB.port);
    assert.equal(config.replication.write.port, hostOf(db.url).port, 'the primary keeps its settings');
    // Writes still go to the primary.
    await sequelize.query("INSERT INTO notes (body) VALUES ('written')");
    assert.equal(getReconnectStats(sequelize).retriesFailed, 0);
    await sequelize.close();
  });

  it('paces logins per server: a login hanging on a stalled replica does not hold one to the primary', async () => {
    const stalled = await StalledListener.start();
    const { username, password, database } = credentials(db.url);
    const sequelize = new Sequelize(database, username, password, {
      dialect: 'postgres',
      logging: false,
      // Known already: no first connection of its own to learn it (an option Sequelize's types omit).
      ...({ databaseVersion: '13.0.0' } as object),
      replication: {
        read: [{ host: '127.0.0.1', port: stalled.port, username, password }],
        write: { ...hostOf(db.url), username, password },
      },
    }).use(autoreconnect({ connectTimeoutMs: 2000, retries: 0 }));
    try {
      const read = outcome(readNote(sequelize));
      await until('the read to log in to the stalled replica', () => stalled.accepted === 1, 5000);
      // A write needs a connection of its own, to another server: its login goes at once. With
      // one pace for every server it would wait its turn (250 ms) behind the replica's.
      const started = Date.now();
      assert.deepEqual(await sequelize.query('SELECT 1 AS n', { type: QueryTypes.SELECT, useMaster: true }), [{ n: 1 }]);
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 250, `the write's login waited: done after ${elapsed} ms`);
      assert.equal(stalled.accepted, 1);
      const result = await read;
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, result.ok ? 'resolved' : result.error.message);
      assert.equal(result.error.phase, 'connect');
    } finally {
      await stalled.close();
      await sequelize.close();
    }
  });
});

describe('failover: the primary becomes a read-only standby', () => {
  let oldPrimary: TestServer;
  let newPrimary: TestServer;
  let proxy: FaultProxy;
  const schema = 'CREATE TABLE orders (id serial PRIMARY KEY, tag text NOT NULL)';

  before(async () => {
    [oldPrimary, newPrimary] = await Promise.all([TestServer.start(), TestServer.start()]);
    await Promise.all([admin(oldPrimary.url, (c) => c.query(schema)), admin(newPrimary.url, (c) => c.query(schema))]);
    proxy = await FaultProxy.start({ target: hostOf(oldPrimary.url) });
  });
  after(async () => {
    await proxy.close();
    await Promise.all([oldPrimary.destroy(), newPrimary.destroy()]);
  });

  async function failover(): Promise<void> {
    await admin(oldPrimary.url, async (c) => {
      await c.query('ALTER SYSTEM SET default_transaction_read_only = on');
      await c.query('SELECT pg_reload_conf()');
    });
    proxy.setTarget(hostOf(newPrimary.url));
    // A new session that sees the setting was forked after the postmaster reloaded, and so after
    // it signalled every existing session: each applies it before its next statement.
    await until('the old primary to be read-only', () =>
      admin(
        oldPrimary.url,
        async (c) => (await c.query<{ ro: string }>("SELECT current_setting('default_transaction_read_only') AS ro")).rows[0]?.ro === 'on',
      ),
    );
  }

  const count = (server: TestServer, tag: string) =>
    admin(
      server.url,
      async (c) => (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM orders WHERE tag = $1', [tag])).rows[0]!.n,
    );

  it('bare Sequelize keeps writing to the standby and fails; the plugin follows the new primary', async () => {
    const url = new URL(oldPrimary.url);
    url.hostname = proxy.host;
    url.port = String(proxy.port);
    const make = () =>
      new Sequelize(url.toString(), { logging: false, pool: { max: 3 }, dialectOptions: { application_name: uniqueAppName('fo') } });
    const bare = make();
    const sequelize = make().use(autoreconnect({ validateIdleMs: false }));
    await Promise.all([bare, sequelize].flatMap((s) => [1, 2, 3].map(() => s.query('SELECT pg_sleep(0.05)'))));
    await failover();

    const bareWrite = await outcome(bare.query("INSERT INTO orders (tag) VALUES ('bare')"));
    assert.ok(!bareWrite.ok && bareWrite.error instanceof DatabaseError);
    assert.equal((bareWrite.error['parent'] as { code?: string }).code, '25006');

    for (let i = 0; i < 3; i++) await sequelize.query("INSERT INTO orders (tag) VALUES ('followed')");
    assert.equal(await count(newPrimary, 'followed'), 3);
    assert.equal(await count(oldPrimary, 'followed'), 0);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.disconnects, 1, 'one write met the standby; its pooled siblings were retired, not tried');
    assert.equal(stats.retriesSucceeded, 1);
    assert.ok(stats.retired >= 1, JSON.stringify(stats));
    await assertPoolIntact(sequelize);
    await Promise.all([bare.close(), sequelize.close()]);
  });

  it('passes on a write refused inside a read-only transaction unchanged, and does not pool that connection again', async () => {
    const sequelize = new Sequelize(newPrimary.url, { logging: false, pool: { max: 1 } }).use(autoreconnect());
    let pid = 0;
    const result = await outcome(
      sequelize.transaction(async (transaction) => {
        const rows = await sequelize.query<{ pid: number }>('SET TRANSACTION READ ONLY; SELECT pg_backend_pid() AS pid', {
          transaction,
          type: QueryTypes.SELECT,
        });
        pid = rows[0]!.pid;
        await sequelize.query("INSERT INTO orders (tag) VALUES ('ro')", { transaction });
      }),
    );
    assert.ok(!result.ok && result.error instanceof DatabaseError && !(result.error instanceof ConnectionLostError));
    assert.equal((result.error['parent'] as { code?: string }).code, '25006');
    const [next] = await sequelize.query<{ pid: number }>('SELECT pg_backend_pid() AS pid', { type: QueryTypes.SELECT });
    assert.notEqual(next!.pid, pid);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.disconnects, 0);
    assert.equal(stats.retired, 1);
    await sequelize.close();
  });
});
