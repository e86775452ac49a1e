/**
 * Behind a real HAProxy in TCP mode, as cloud load balancers and HAProxy deployments put it
 * in front of PostgreSQL: idle and long-running connections closed by its timeouts, and
 * HAProxy restarted under load. Each scenario runs bare Sequelize beside the plugin.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { DatabaseError, QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { describeWith } from '../support/binaries';
import { admin, adminUrl, assertPoolIntact, testSequelize, withHostPort } from '../support/db';
import { FaultProxy } from '../support/fault-proxy';
import { fixture, outcome, type Fixture } from '../support/fixture';
import { HAProxy, haproxyBinary } from '../support/haproxy';
import { describeErrors, sleep, startWorkers } from '../support/workload';

/** HAProxy's `timeout client` and `timeout server` in the timeout scenarios. */
const TIMEOUT_MS = 600;
/** One-way latency of the relay between the app and HAProxy. */
const LATENCY_MS = 150;

const UPSERT = 'INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v';

describeWith(haproxyBinary(), 'behind HAProxy (TCP mode)', () => {
  let f: Fixture;
  let haproxy: HAProxy;
  const server = new URL(adminUrl());
  const postgres = { host: server.hostname, port: Number(server.port) };

  before(async () => {
    f = await fixture();
    await admin(f.url, (c) => c.query('CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL)'));
    haproxy = await HAProxy.start({ target: postgres, timeoutClientMs: TIMEOUT_MS, timeoutServerMs: TIMEOUT_MS });
  });
  after(async () => {
    await haproxy?.close();
    await f?.close();
  });

  const viaHAProxy = (h: { host: string; port: number }) => withHostPort(f.url, h.host, h.port);

  it('an app idling well past `timeout client` is unaffected either way: the pool drops the closed connection', async () => {
    const bare = testSequelize(viaHAProxy(haproxy), { appName: f.appName('bare'), plugin: false, pool: { max: 1 } });
    const sequelize = testSequelize(viaHAProxy(haproxy), { appName: f.appName(), pool: { max: 1 } });
    for (const s of [bare, sequelize]) await s.query('SELECT 1', { type: QueryTypes.SELECT });
    await sleep(TIMEOUT_MS + 300);
    for (const s of [bare, sequelize]) assert.deepEqual(await s.query('SELECT 2 AS n', { type: QueryTypes.SELECT }), [{ n: 2 }]);
    assert.equal(getReconnectStats(sequelize).disconnects, 0, 'no statement met a closed connection');
    await Promise.all([bare.close(), sequelize.close()]);
  });

  /**
   * With latency, HAProxy's close and the app's next statement cross in flight: the app sends
   * before the FIN reaches it, and the statement reaches HAProxy after the close. The relay
   * adds LATENCY_MS each way; idling TIMEOUT_MS - LATENCY_MS after the last reply puts the
   * send in the middle of that window (it is TIMEOUT_MS - 2 * LATENCY_MS .. TIMEOUT_MS wide).
   */
  async function raceTheClose(sequelize: Sequelize, statement: () => Promise<unknown>) {
    await sequelize.query('SELECT 1', { type: QueryTypes.SELECT });
    await sleep(TIMEOUT_MS - LATENCY_MS);
    return outcome(statement());
  }

  it('with latency, a statement sent as HAProxy closes the idle connection: bare Sequelize fails, the plugin retries', async () => {
    const relay = await FaultProxy.start({ target: { host: haproxy.host, port: haproxy.port }, delayMs: LATENCY_MS });
    const opts = { pool: { max: 1 } };
    const bare = testSequelize(viaHAProxy(relay), { appName: f.appName('bare'), plugin: false, ...opts });
    const reader = testSequelize(viaHAProxy(relay), { appName: f.appName('read'), ...opts });
    const writer = testSequelize(viaHAProxy(relay), { appName: f.appName('write'), ...opts });
    const upserter = testSequelize(viaHAProxy(relay), { appName: f.appName('upsert'), ...opts });
    try {
      const [bareRead, read, write, upsert] = await Promise.all([
        raceTheClose(bare, () => bare.query('SELECT 42 AS n', { type: QueryTypes.SELECT })),
        raceTheClose(reader, () => reader.query('SELECT 42 AS n', { type: QueryTypes.SELECT })),
        raceTheClose(writer, () => writer.query(UPSERT, { bind: ['plain', 1] })),
        raceTheClose(upserter, () => upserter.query(UPSERT, { bind: ['idempotent', 1], reconnect: { idempotent: true } } as object)),
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
    const slow = `SELECT pg_sleep(${(TIMEOUT_MS * 2.5) / 1000}) AS slept`;
    const started = Date.now();
    const [bareResult, write, read] = await Promise.all([
      outcome(bare.query(slow)),
      outcome(sequelize.query(slow)),
      outcome(sequelize.query(slow, { type: QueryTypes.SELECT })),
    ]);
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
    const sequelize = testSequelize(viaHAProxy(restarting), {
      appName: f.appName(),
      pool: { max: 5 },
      plugin: { retries: 20, deadlineMs: 10_000, backoff: { baseMs: 20, maxMs: 200 } },
    });
    try {
      const mixed = (s: Sequelize) => (worker: number, n: number) =>
        n % 2 === 0
          ? s.query('SELECT pg_sleep(0.02), 1 AS n', { type: QueryTypes.SELECT })
          : s.query(UPSERT, { bind: [`restart-${worker}`, n], reconnect: { idempotent: true } } as object);
      const plugin = startWorkers(5, mixed(sequelize));
      const bareWorkers = startWorkers(5, () => bare.query('SELECT pg_sleep(0.02), 1 AS n', { type: QueryTypes.SELECT }));
      await sleep(300);
      await restarting.restart({ downMs: 300 });
      await sleep(500);
      const [withPlugin, withoutPlugin] = await Promise.all([plugin.stop(), bareWorkers.stop()]);

      assert.equal(restarting.restartCount, 1);
      assert.deepEqual(describeErrors(withPlugin.errors), []);
      assert.ok(withPlugin.ok > 10, `only ${withPlugin.ok} operations`);
      assert.ok(withoutPlugin.errors.length > 0, 'bare Sequelize fails while HAProxy restarts');
      const stats = getReconnectStats(sequelize);
      assert.ok(stats.disconnects + stats.connectFailures > 0, JSON.stringify(stats));
      assert.equal(stats.retriesFailed, 0);
      await assertPoolIntact(sequelize);
    } finally {
      await Promise.all([bare.close(), sequelize.close()]);
      await restarting.close();
    }
  });
});
