import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { DatabaseError, QueryTypes, Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { adminUrl, assertPoolIntact, terminateBackends, testSequelize } from '../support/db';
import { defineItem, type Fixture, gate, killedAtGate, outcome, useFixture } from '../support/fixture';

/** Runs a read and kills its backend while it certainly runs (held at a gate); the retry runs after the kill. */
const readKilledMidway = (f: Fixture, sequelize: Sequelize, appName: string) =>
  killedAtGate(f.url, appName, (held) => sequelize.query(`SELECT ${held.sql} AS slept, 42 AS answer`, { type: QueryTypes.SELECT }), 1);

describe('a connection lost under a statement', () => {
  const f = useFixture();

  it('fails a read in bare Sequelize, and the plugin retries it on a new connection', async () => {
    const bareApp = f.appName('bare');
    const bare = testSequelize(f.url, { appName: bareApp, plugin: false });
    const bareResult = await readKilledMidway(f, bare, bareApp);
    assert.equal(bareResult.ok, false);
    assert.ok(!bareResult.ok && bareResult.error instanceof DatabaseError, 'bare Sequelize surfaces a DatabaseError');

    const app = f.appName();
    const sequelize = testSequelize(f.url, { appName: app });
    const result = await readKilledMidway(f, sequelize, app);
    assert.deepEqual(result.ok && result.value, [{ slept: '', answer: 42 }]);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.disconnects, 1);
    assert.equal(stats.retriesSucceeded, 1);
    assert.equal(stats.reconnects, 1);
    await assertPoolIntact(sequelize);
    await Promise.all([bare.close(), sequelize.close()]);
  });

  it('never hands the dead connection out again: the next statement gets a new backend', async () => {
    const app = f.appName();
    const sequelize = testSequelize(f.url, { appName: app, plugin: { retries: 0 }, pool: { max: 1 } });
    const before = (await sequelize.query<{ pid: number }>('SELECT pg_backend_pid() AS pid', { type: QueryTypes.SELECT }))[0]?.pid;
    const result = await readKilledMidway(f, sequelize, app);
    assert.ok(!result.ok && result.error instanceof ConnectionLostError);
    assert.equal(result.error['reason'], 'retry-disabled');
    assert.equal(result.error['attempts'], 1);
    const afterKill = (await sequelize.query<{ pid: number }>('SELECT pg_backend_pid() AS pid', { type: QueryTypes.SELECT }))[0]?.pid;
    assert.equal(typeof afterKill, 'number');
    assert.notEqual(afterKill, before);
    assert.equal(getReconnectStats(sequelize).notRetried, 1);
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it('replaces connections killed or reset while idle without the caller noticing', async () => {
    const app = f.appName();
    const sequelize = testSequelize(f.proxiedUrl, { appName: app, pool: { max: 3 } });
    await Promise.all([1, 2, 3].map((n) => sequelize.query(`SELECT pg_sleep(0.05), ${n}`)));
    assert.ok((await terminateBackends(adminUrl(), app)) >= 1);
    assert.deepEqual(await sequelize.query('SELECT 1 AS n', { type: QueryTypes.SELECT }), [{ n: 1 }]);
    f.proxy.resetAll();
    assert.deepEqual(await sequelize.query('SELECT 2 AS n', { type: QueryTypes.SELECT }), [{ n: 2 }]);
    f.proxy.cutAll();
    assert.deepEqual(await sequelize.query('SELECT 3 AS n', { type: QueryTypes.SELECT }), [{ n: 3 }]);
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it('retries a read on a connection a load balancer forgot (RST on next send)', async () => {
    const bare = testSequelize(f.proxiedUrl, { appName: f.appName('bare'), plugin: false });
    // Without validation at checkout, so that the read meets the dead connection.
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: { validateIdleMs: false } });
    const Item = defineItem(sequelize);
    const BareItem = defineItem(bare);
    await Promise.all([Item.count(), BareItem.count()]);
    f.proxy.forgetAll();
    const bareResult = await outcome(BareItem.count());
    assert.ok(!bareResult.ok && /ECONNRESET/.test(bareResult.error.message), 'bare Sequelize gets read ECONNRESET');
    assert.equal(await Item.count({ where: { tag: 'nothing-here' } }), 0);
    assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
    await assertPoolIntact(sequelize);
    await Promise.all([bare.close(), sequelize.close()]);
  });

  it('retries a read whose connection is cut mid-query', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName() });
    f.proxy.arm('pg_sleep(0.05)', 'cut-after-send');
    const rows = await sequelize.query('SELECT pg_sleep(0.05) AS slept, 7 AS n', { type: QueryTypes.SELECT });
    assert.deepEqual(rows, [{ slept: '', n: 7 }]);
    assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it('reports a write whose reply was lost instead of repeating it: exactly one row', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName() });
    const Item = defineItem(sequelize);
    f.proxy.arm('INSERT INTO "items"', 'swallow-reply');
    const result = await outcome(Item.create({ tag: 'ambiguous-default' }));
    assert.ok(!result.ok);
    const error = result.error;
    assert.ok(error instanceof ConnectionLostError, `got ${error.name}: ${error.message}`);
    assert.equal(error.mayHaveExecuted, true);
    assert.equal(error.reason, 'write-may-have-executed');
    assert.equal(error.transactionLost, false);
    assert.equal(error.phase, 'query');
    assert.match(error.sql ?? '', /^INSERT INTO "items"/);
    assert.match(error.message, /may have run/);
    assert.ok(error.parent instanceof DatabaseError && error.cause === error.parent);
    assert.equal(await f.count('ambiguous-default'), 1, 'the write ran once, and only once');
    assert.equal(getReconnectStats(sequelize).notRetried, 1);
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it("repeats an ambiguous write with retryWrites: 'always' (at-least-once: here, twice)", async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: { retryWrites: 'always' } });
    const Item = defineItem(sequelize);
    f.proxy.arm('INSERT INTO "items"', 'swallow-reply');
    const item = await Item.create({ tag: 'ambiguous-always' });
    assert.equal(item.get('tag'), 'ambiguous-always');
    assert.equal(await f.count('ambiguous-always'), 2);
    await sequelize.close();
  });

  it('does not retry a write sent on a forgotten connection; it reached nothing, so no row', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: { validateIdleMs: false } });
    const Item = defineItem(sequelize);
    await Item.count();
    f.proxy.forgetAll();
    const result = await outcome(Item.create({ tag: 'forgotten-write' }));
    assert.ok(!result.ok && result.error instanceof ConnectionLostError);
    assert.equal(result.error.mayHaveExecuted, true, 'the client cannot know the RST came from a middle box');
    assert.equal(await f.count('forgotten-write'), 0);
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it("with retryWrites: 'never' still retries reads but reports every lost write as not retried", async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: { retryWrites: 'never', validateIdleMs: false } });
    const Item = defineItem(sequelize);
    await Item.count();
    f.proxy.forgetAll();
    assert.equal(await Item.count({ where: { tag: 'never-retried' } }), 0);
    f.proxy.forgetAll();
    const result = await outcome(Item.create({ tag: 'never-retried' }));
    assert.ok(!result.ok && result.error instanceof ConnectionLostError);
    assert.equal(result.error.reason, 'writes-not-retried');
    assert.equal(await f.count('never-retried'), 0);
    await sequelize.close();
  });

  it('gives every new pg client an error listener from birth, so an early FATAL cannot crash the process', async () => {
    type Client = { emit(event: string, error: Error): boolean; listenerCount(event: string): number; _invalid?: boolean };
    // Listeners on each client when it starts connecting, by application name.
    const listeners = new Map<string, number>();
    const proto = pg.Client.prototype as unknown as { connect: (...args: unknown[]) => unknown };
    const { connect } = proto;
    proto.connect = function (this: Client & { connectionParameters: { application_name: string } }, ...args: unknown[]) {
      listeners.set(this.connectionParameters.application_name, this.listenerCount('error'));
      return connect.apply(this, args);
    };
    const bareApp = f.appName('bare');
    const app = f.appName();
    // Plain Sequelize: testSequelize guards bare instances' clients, which is what this shows is needed.
    const bare = new Sequelize(f.url, { dialect: 'postgres', logging: false, dialectOptions: { application_name: bareApp } });
    const sequelize = testSequelize(f.url, { appName: app });
    try {
      await bare.query('SELECT 1');
      await sequelize.query('SELECT 1');
    } finally {
      proto.connect = connect;
    }
    // Sequelize listens only once connecting has resolved: before that, an error event throws.
    assert.deepEqual([listeners.get(bareApp), listeners.get(app)], [0, 1]);
    const cm = sequelize.connectionManager as unknown as { getConnection(): Promise<Client>; releaseConnection(c: Client): void };
    const client = await cm.getConnection();
    client.emit('error', new Error('a FATAL with no statement to blame'));
    assert.equal(client._invalid, true, 'marked so that the pool never hands it out');
    cm.releaseConnection(client);
    assert.deepEqual(await sequelize.query("SELECT '{1,2}'::int[] AS a", { type: QueryTypes.SELECT }), [{ a: [1, 2] }]);
    await Promise.all([bare.close(), sequelize.close()]);
  });

  it('only the instance with the plugin retries; another instance in the process is untouched', async () => {
    const bareApp = f.appName('bare');
    const pluginApp = f.appName('plugin');
    const bare = testSequelize(f.url, { appName: bareApp, plugin: false });
    const withPlugin = testSequelize(f.url, { appName: pluginApp });
    const [bareResult, pluginResult] = await Promise.all([readKilledMidway(f, bare, bareApp), readKilledMidway(f, withPlugin, pluginApp)]);
    assert.equal(bareResult.ok, false);
    assert.equal(pluginResult.ok, true);
    assert.notEqual(
      (bare as unknown as { dialect: { Query: unknown } }).dialect.Query,
      (withPlugin as unknown as { dialect: { Query: unknown } }).dialect.Query,
    );
    assert.throws(() => getReconnectStats(bare), /not installed/);
    await Promise.all([bare.close(), withPlugin.close()]);
  });

  it('a burst of concurrent reads survives every backend being killed at once', async () => {
    const app = f.appName('burst');
    const sequelize = testSequelize(f.url, { appName: app, pool: { max: 8 } });
    const held = await gate(f.url);
    const reads = Promise.allSettled(
      Array.from({ length: 32 }, (_, n) => sequelize.query<{ n: number }>(`SELECT ${held.sql}, ${n} AS n`, { type: QueryTypes.SELECT })),
    );
    try {
      // All eight connections are running a read when they are killed; 24 reads wait for the pool.
      await held.held(app, 8);
      assert.equal(await terminateBackends(adminUrl(), app), 8);
    } finally {
      await held.open();
    }
    const results = await reads;
    const failures = results.filter((r) => r.status === 'rejected');
    assert.deepEqual(failures, []);
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value[0]!.n : -1)),
      Array.from({ length: 32 }, (_, n) => n),
    );
    const stats = getReconnectStats(sequelize);
    assert.ok(stats.disconnects >= 1 && stats.retriesSucceeded >= 1 && stats.retriesFailed === 0, JSON.stringify(stats));
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });
});
