/**
 * Behind a real HAProxy in TCP mode, as cloud load balancers and HAProxy deployments put it
 * in front of PostgreSQL: idle and long-running connections closed by its timeouts, and
 * HAProxy restarted under load. Each scenario runs bare Sequelize beside the plugin.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { DatabaseError, QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../../src';
import { describeWith } from '../../support/binaries';
import { admin, adminUrl, assertPoolIntact, testSequelize, withHostPort } from '../../support/db';
import { FaultProxy } from '../../support/fault-proxy';
import { gate, outcome, useFixture, watchConnections } from '../../support/fixture';
import { HAProxy, haproxyBinary } from '../../support/haproxy';
import { describeErrors, startWorkers, until } from '../../support/workload';

/** HAProxy's `timeout client` and `timeout server` in the timeout scenarios. */
const TIMEOUT_MS = 600;

const UPSERT = 'INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v';

describeWith(haproxyBinary(), 'behind HAProxy (TCP mode)', () => {
  const f = useFixture();
  let haproxy: HAProxy;
  const server = new URL(adminUrl());
  const postgres = { host: server.hostname, port: Number(server.port) };

  before(async () => {
    await admin(f.url, (c) => c.query('CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL)'));
    haproxy = await HAProxy.start({ target: postgres, timeoutClientMs: TIMEOUT_MS, timeoutServerMs: TIMEOUT_MS });
  });
  after(async () => {
    await haproxy?.close();
  });

  const viaHAProxy = (h: { host: string; port: number }) => withHostPort(f.url, h.host, h.port);

  it('an app idling well past `timeout client` is unaffected either way: the pool drops the closed connection', async () => {
    const bare = testSequelize(viaHAProxy(haproxy), { appName: f.appName('bare'), plugin: false, pool: { max: 1 } });
    const sequelize = testSequelize(viaHAProxy(haproxy), { appName: f.appName(), pool: { max: 1 } });
    const connections = [bare, sequelize].map(watchConnections);
    for (const s of [bare, sequelize]) await s.query('SELECT 1', { type: QueryTypes.SELECT });
    // Idle until HAProxy has closed both connections and each app has read the close.
    await until('HAProxy to close the idle connections', () => connections.every((c) => c.opened > 0 && c.ended === c.opened));
    for (const s of [bare, sequelize]) assert.deepEqual(await s.query('SELECT 2 AS n', { type: QueryTypes.SELECT }), [{ n: 2 }]);
    assert.equal(getReconnectStats(sequelize).disconnects, 0, 'no statement met a closed connection');
    await Promise.all([bare.close(), sequelize.close()]);
  });

  /**
   * Over a network with latency, HAProxy's close and the app's next statement cross in flight:
   * the app sends before the FIN reaches it, and the statement reaches HAProxy after the close.
   * A relay between the app and HAProxy holds the FIN back until the app has sent, so the
   * statements cross the close on every run, however slow the machine.
   */
  it('a statement sent while HAProxy closes the idle connection: bare Sequelize fails, the plugin retries', async () => {
    const relay = await FaultProxy.start({ target: { host: haproxy.host, port: haproxy.port } });
    // No check at checkout: the statement itself is to meet the close.
    const opts = { pool: { max: 1 }, plugin: { validateIdleMs: false } } as const;
    const bare = testSequelize(viaHAProxy(relay), { appName: f.appName('bare'), plugin: false, pool: { max: 1 } });
    const reader = testSequelize(viaHAProxy(relay), { appName: f.appName('read'), ...opts });
    const writer = testSequelize(viaHAProxy(relay), { appName: f.appName('write'), ...opts });
    const upserter = testSequelize(viaHAProxy(relay), { appName: f.appName('upsert'), ...opts });
    try {
      await Promise.all([bare, reader, writer, upserter].map((s) => s.query('SELECT 1', { type: QueryTypes.SELECT })));
      relay.holdReplies();
      await until('HAProxy to close the four idle connections', () => relay.heldCloseCount === 4);
      const [bareRead, read, write, upsert] = await Promise.all([
        outcome(bare.query('SELECT 42 AS n', { type: QueryTypes.SELECT })),
        outcome(reader.query('SELECT 42 AS n', { type: QueryTypes.SELECT })),
        outcome(writer.query(UPSERT, { bind: ['plain', 1] })),
        outcome(upserter.query(UPSERT, { bind: ['idempotent', 1], reconnect: { idempotent: true } } as object)),
      ]);

      assert.ok(!bareRead.ok && bareRead.error instanceof DatabaseError, 'bare Sequelize fails the read');
      assert.match(bareRead.error.message, /Connection terminated unexpectedly/);

      assert.deepEqual(read.ok && read.value, [{ n: 42 }], !read.ok ? read.error.message : '');
      assert.equal(getReconnectStats(reader).retriesSucceeded, 1);

      // A plain write cannot be known unsent (HAProxy may have forwarded it): reported, not repeated.
      assert.ok(!write.ok && write.error instanceof ConnectionLostError, !write.ok ? write.error.message : 'resolved');
      assert.equal(write.error.mayHaveExecuted, true);
      assert.equal(write.error.reason, 'write-may-have-executed');
      assert.ok(upsert.ok, !upsert.ok ? upsert.error.message : '');
      assert.equal(getReconnectStats(upserter).retriesSucceeded, 1);
      const rows = await admin(f.url, async (c) => (await c.query<{ k: string }>('SELECT k FROM kv ORDER BY k')).rows.map((r) => r.k));
      assert.ok(rows.includes('idempotent'));
      for (const s of [reader, writer, upserter]) await assertPoolIntact(s);
    } finally {
      await Promise.all([bare, reader, writer, upserter].map((s) => s.close()));
      await relay.close();
    }
  });

  it('a statement running longer than `timeout server` fails cleanly, typed, without hanging', async () => {
    const bare = testSequelize(viaHAProxy(haproxy), { appName: f.appName('bare'), plugin: false });
    const sequelize = testSequelize(viaHAProxy(haproxy), { appName: f.appName(), plugin: { retries: 1 } });
    // Held at a gate until the end: longer than `timeout server` whatever the machine's speed.
    const held = await gate(f.url);
    const slow = `SELECT ${held.sql} AS slept`;
    const started = Date.now();
    const [bareResult, write, read] = await Promise.all([
      outcome(bare.query(slow)),
      outcome(sequelize.query(slow)),
      outcome(sequelize.query(slow, { type: QueryTypes.SELECT })),
    ]).finally(() => held.open());
    const elapsed = Date.now() - started;

    assert.ok(!bareResult.ok && bareResult.error instanceof DatabaseError && !(bareResult.error instanceof ConnectionLostError));
    assert.match(bareResult.error.message, /Connection terminated unexpectedly/);
    // A raw statement counts as a write: it may have run, so it is reported, not repeated.
    assert.ok(!write.ok && write.error instanceof ConnectionLostError, !write.ok ? write.error.message : 'resolved');
    assert.equal(write.error.mayHaveExecuted, true);
    assert.equal(write.error.attempts, 1);
    // A read is retried, meets the same timeout again, and ends with the budget.
    assert.ok(!read.ok && read.error instanceof ConnectionLostError, !read.ok ? read.error.message : 'resolved');
    assert.equal(read.error.reason, 'retries-exhausted');
    assert.equal(read.error.attempts, 2);
    // A guard against hanging (two attempts of ~TIMEOUT_MS each), not a benchmark.
    assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
    await assertPoolIntact(sequelize);
    await Promise.all([bare.close(), sequelize.close()]);
  });

  it('HAProxy restarted under load: bare Sequelize fails operations, the plugin none', async () => {
    const restarting = await HAProxy.start({ target: postgres });
    const bare = testSequelize(viaHAProxy(restarting), { appName: f.appName('bare'), plugin: false, pool: { max: 5 } });
    // A time budget that outlasts a slow relaunch, rather than a count of retries.
    const sequelize = testSequelize(viaHAProxy(restarting), {
      appName: f.appName(),
      pool: { max: 5 },
      plugin: { retries: 1000, deadlineMs: 20_000, backoff: { baseMs: 20, maxMs: 200 } },
    });
    const mixed = (s: Sequelize) => (worker: number, n: number) =>
      n % 2 === 0
        ? s.query('SELECT pg_sleep(0.02), 1 AS n', { type: QueryTypes.SELECT })
        : s.query(UPSERT, { bind: [`restart-${worker}`, n], reconnect: { idempotent: true } } as object);
    const plugin = startWorkers(5, mixed(sequelize));
    const bareWorkers = startWorkers(5, () => bare.query('SELECT pg_sleep(0.02), 1 AS n', { type: QueryTypes.SELECT }));
    try {
      await until('both to run', () => plugin.results.ok >= 10 && bareWorkers.results.ok >= 5);
      // Down until both have met the outage, then a new process.
      await restarting.stop();
      const met = () => getReconnectStats(sequelize).disconnects + getReconnectStats(sequelize).connectFailures > 0;
      await until('both to meet the outage', () => bareWorkers.results.errors.length > 0 && met());
      await restarting.restart();
      const okAtRestart = plugin.results.ok;
      await until('the plugin to run through HAProxy again', () => plugin.results.ok >= okAtRestart + 20);
      const [withPlugin, withoutPlugin] = await Promise.all([plugin.stop(), bareWorkers.stop()]);

      assert.equal(restarting.restartCount, 1);
      assert.deepEqual(describeErrors(withPlugin.errors), []);
      assert.ok(withoutPlugin.errors.length > 0, 'bare Sequelize fails while HAProxy restarts');
      const stats = getReconnectStats(sequelize);
      assert.ok(stats.disconnects + stats.connectFailures > 0, JSON.stringify(stats));
      assert.equal(stats.retriesFailed, 0);
      await assertPoolIntact(sequelize);
    } finally {
      await Promise.all([plugin.stop(), bareWorkers.stop()]);
      await Promise.all([bare.close(), sequelize.close()]);
      await restarting.close();
    }
  });
});
