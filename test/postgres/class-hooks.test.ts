import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { QueryTypes, Sequelize } from 'sequelize';
import { Sequelize as TypescriptSequelize } from 'sequelize-typescript';
import { autoreconnect, getReconnectStats, type ReconnectContext } from '../../src';
import { decorateHook } from '../../src/core/decorations';
import { admin, adminUrl, assertPoolIntact, terminateBackends } from '../support/db';
import { defineItem, killedAtGate, outcome, useFixture } from '../support/fixture';

/**
 * Hooks added to the Sequelize class (`Sequelize.addHook`) are process-wide: a library that does
 * not own the instances (a credentials provider, a metrics exporter) takes part in every one
 * that has the plugin. Each test removes the class hooks it added.
 */
describe('hooks added to the Sequelize class', () => {
  const f = useFixture();
  const added: Array<[string, string]> = [];
  /** The name of a class hook to add, removed again after the test. */
  const removedAfter = (hook: string, key: string): string => {
    added.push([hook, key]);
    return key;
  };
  afterEach(() => {
    for (const [name, key] of added.splice(0)) Sequelize.removeHook(name as 'afterInit', key);
  });

  const make = (appName: string, url = f.url) =>
    new Sequelize(url, { logging: false, dialectOptions: { application_name: appName } }).use(autoreconnect());

  /** A read through `model` whose session is killed while it certainly runs; the retry runs after the kill. */
  const killMidRead = (sequelize: Sequelize, appName: string, model: ReturnType<typeof defineItem>) =>
    killedAtGate(f.url, appName, (held) => model.findAll({ attributes: [[sequelize.literal(held.sql), 'slept']] }));

  it('run for every instance with the plugin, after the model’s decorated and added hooks and the instance’s', async () => {
    const calls: string[] = [];
    const contexts: ReconnectContext[] = [];
    Sequelize.addHook('beforeReconnect', removedAfter('beforeReconnect', 'test-class'), function (this: unknown, ctx: ReconnectContext) {
      assert.equal(this, Sequelize);
      contexts.push(ctx);
      calls.push(`class:before:${ctx.phase}`);
    });
    Sequelize.addHook('afterReconnect', removedAfter('afterReconnect', 'test-class'), () => void calls.push('class:after'));
    const apps = [f.appName('first'), f.appName('second')];
    for (const app of apps) {
      const sequelize = make(app);
      const Item = defineItem(sequelize);
      decorateHook(Item, 'beforeReconnect', () => void calls.push('decorated')); // what @BeforeReconnect stores
      Item.addHook('beforeReconnect', () => void calls.push('model'));
      sequelize.addHook('beforeReconnect', () => void calls.push('instance'));
      sequelize.addHook('afterReconnect', () => void calls.push('instance:after'));
      await Item.create({ tag: 'a-row-to-read' });
      const result = await killMidRead(sequelize, app, Item);
      assert.ok(result.ok, !result.ok ? result.error.message : '');
      await assertPoolIntact(sequelize);
      await sequelize.close();
    }
    const once = ['decorated', 'model', 'instance', 'class:before:query', 'instance:after', 'class:after'];
    assert.deepEqual(calls, [...once, ...once]);
    assert.equal(contexts[0]?.failure, 'lost');
    assert.ok(contexts.every((c) => c.model !== undefined && c.attempt === 1));
  });

  it('a class-level beforeReconnect lets a refused password be retried and refreshed (a credentials library)', async () => {
    const role = `classhook_${process.pid}`;
    const secret = 'class-hook-secret-1';
    await admin(f.url, (c) => c.query(`CREATE ROLE ${role} LOGIN PASSWORD '${secret}'`));
    try {
      Sequelize.addHook('beforeReconnect', removedAfter('beforeReconnect', 'vault'), (ctx: ReconnectContext) => {
        if (ctx.failure === 'auth') ctx.config.password = secret;
      });
      const u = new URL(f.url);
      u.username = role;
      u.password = 'stale-password-1';
      const sequelize = make(f.appName(), u.toString());
      assert.deepEqual(await sequelize.query('SELECT 7 AS n', { type: QueryTypes.SELECT }), [{ n: 7 }]);
      assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
      await sequelize.close();
    } finally {
      await admin(f.url, (c) => c.query(`DROP ROLE IF EXISTS ${role}`));
    }
  });

  it('run for an instance of a Sequelize subclass too (sequelize-typescript)', async () => {
    const calls: string[] = [];
    Sequelize.addHook('beforeReconnect', removedAfter('beforeReconnect', 'on-base'), () => void calls.push('base'));
    const app = f.appName('sts');
    const sequelize = new TypescriptSequelize(f.url, { logging: false, dialectOptions: { application_name: app } });
    sequelize.use(autoreconnect());
    const Item = defineItem(sequelize);
    await Item.create({ tag: 'sts' });
    const result = await killMidRead(sequelize, app, Item);
    assert.ok(result.ok, !result.ok ? result.error.message : '');
    assert.deepEqual(calls, ['base']);
    await sequelize.close();
  });

  it('do not run for an instance without the plugin', async () => {
    const calls: string[] = [];
    Sequelize.addHook('beforeReconnect', removedAfter('beforeReconnect', 'test-bare'), () => void calls.push('class'));
    const app = f.appName('bare');
    const bare = new Sequelize(f.url, { logging: false, dialectOptions: { application_name: app } });
    await bare.query('SELECT 1');
    await terminateBackends(adminUrl(), app);
    await outcome(bare.query('SELECT 1'));
    assert.deepEqual(calls, []);
    await bare.close();
  });

  it('a process-wide install: Sequelize.addHook("afterInit", (s) => s.use(autoreconnect())) covers every new instance', async () => {
    Sequelize.addHook('afterInit', removedAfter('afterInit', 'autoreconnect'), (s: Sequelize) => s.use(autoreconnect({ retries: 3 })));
    const app = f.appName('universal');
    const sequelize = new Sequelize(f.url, { logging: false, dialectOptions: { application_name: app } });
    assert.equal(getReconnectStats(sequelize).retries, 0, 'installed by the constructor');
    assert.throws(() => sequelize.use(autoreconnect()), /already installed/);
    const Item = defineItem(sequelize);
    await Item.create({ tag: 'universal' });
    const result = await killMidRead(sequelize, app, Item);
    assert.ok(result.ok, !result.ok ? result.error.message : '');
    assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });
});
