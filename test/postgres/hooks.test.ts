import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueryTypes, Sequelize } from 'sequelize';
import { autoreconnect, ConnectionLostError, getReconnectStats, type AfterReconnectContext, type ReconnectContext } from '../../src';
import { assertPoolIntact } from '../support/db';
import { defineItem, killedAtGate, outcome, useFixture } from '../support/fixture';

describe('beforeReconnect / afterReconnect hooks', () => {
  const f = useFixture();

  function make(appName: string, hooks: Record<string, unknown> = {}, plugin = {}): Sequelize {
    const sequelize = new Sequelize(f.url, { logging: false, hooks, dialectOptions: { application_name: appName } });
    return sequelize.use(autoreconnect(plugin));
  }

  /** A read whose session is killed while it is certainly running; the retry runs after the kill. */
  const killMidRead = (sequelize: Sequelize, appName: string, model?: ReturnType<typeof defineItem>) =>
    killedAtGate(f.url, appName, (held) =>
      model
        ? model.findAll({ attributes: [[sequelize.literal(held.sql), 'slept']] })
        : sequelize.query(`SELECT ${held.sql} AS slept`, { type: QueryTypes.SELECT }),
    );

  it('are real Sequelize hooks: constructor option, addHook, named addHook and removeHook', async () => {
    const app = f.appName();
    const calls: string[] = [];
    const sequelize = make(app, { beforeReconnect: () => void calls.push('constructor') });
    sequelize.addHook('beforeReconnect', () => void calls.push('added'));
    sequelize.addHook('beforeReconnect', 'named', () => void calls.push('named'));
    sequelize.addHook('afterReconnect', 'gone', () => void calls.push('removed-one'));
    sequelize.removeHook('afterReconnect', 'gone');
    assert.equal(sequelize.hasHook('beforeReconnect'), true);
    assert.equal(sequelize.hasHook('afterReconnect'), false);
    const result = await killMidRead(sequelize, app);
    assert.equal(result.ok, true);
    assert.deepEqual(calls, ['constructor', 'added', 'named']);
    await sequelize.close();
  });

  it('run in order with the documented context, model hooks before instance hooks', async () => {
    const app = f.appName();
    const sequelize = make(app);
    const Item = defineItem(sequelize);
    const seen: Array<{ hook: string; ctx: ReconnectContext | AfterReconnectContext }> = [];
    sequelize.addHook('beforeReconnect', async (ctx) => {
      await new Promise((r) => setTimeout(r, 20)); // awaited before the reconnect
      seen.push({ hook: 'sequelize:before', ctx });
    });
    sequelize.addHook('afterReconnect', (ctx) => void seen.push({ hook: 'sequelize:after', ctx }));
    Item.addHook('beforeReconnect', (ctx) => void seen.push({ hook: 'model:before', ctx }));
    await Item.create({ tag: 'one-row-to-sleep-on' });
    const result = await killMidRead(sequelize, app, Item);
    assert.equal(result.ok, true);
    assert.deepEqual(
      seen.map((s) => s.hook),
      ['model:before', 'sequelize:before', 'sequelize:after'],
    );
    const before = seen[0]!.ctx;
    assert.equal(before.phase, 'query');
    assert.equal(before.attempt, 1);
    assert.equal(before.model, Item);
    assert.match(before.sql ?? '', /pg_advisory_xact_lock_shared/);
    assert.match(before.error.message, /terminating connection due to administrator command/);
    assert.equal(String(before.config.port), new URL(f.url).port);
    assert.equal(before.transaction, undefined);
    const afterCtx = seen[2]!.ctx as AfterReconnectContext;
    assert.equal(afterCtx.reconnected, true);
    assert.equal(afterCtx.reconnectError, undefined);
    await sequelize.close();
  });

  it('a beforeReconnect hook that throws aborts the retry; the caller gets ConnectionLostError with hookError', async () => {
    const app = f.appName();
    const sequelize = make(app);
    const vaultDown = new Error('vault unreachable');
    sequelize.addHook('beforeReconnect', () => {
      throw vaultDown;
    });
    const result = await killMidRead(sequelize, app);
    assert.ok(!result.ok && result.error instanceof ConnectionLostError);
    assert.equal(result.error.reason, 'hook-failed');
    assert.equal(result.error.hookError, vaultDown);
    assert.match(result.error.message, /vault unreachable/);
    assert.equal(getReconnectStats(sequelize).reconnects, 0, 'no reconnect was attempted');
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it('a hook that never settles cannot hang the caller: the operation ends by its deadline', async () => {
    for (const name of ['beforeReconnect', 'afterReconnect'] as const) {
      const app = f.appName();
      const sequelize = make(app, {}, { deadlineMs: 1500 });
      let called = 0;
      // A secret store that accepts the request and never answers.
      sequelize.addHook(name, () => {
        called++;
        return new Promise<void>(() => {});
      });
      const started = Date.now();
      const result = await killMidRead(sequelize, app);
      const elapsed = Date.now() - started;
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, `${name}: ${String(!result.ok && result.error)}`);
      assert.equal(result.error.reason, 'hook-failed');
      assert.equal((result.error.hookError as Error).name, 'HookTimeoutError');
      assert.match(result.error.message, new RegExp(`the ${name} hook did not settle within`));
      assert.equal(called, 1);
      assert.ok(elapsed < 1500 + 1500, `${name}: ended ${elapsed} ms after the call (deadline 1500 ms)`);
      await assertPoolIntact(sequelize);
      await sequelize.close();
    }
  });

  it('afterReconnect says when the reconnect failed, with the error', async () => {
    const app = f.appName();
    const sequelize = new Sequelize(f.proxiedUrl, { logging: false, dialectOptions: { application_name: app } }).use(
      autoreconnect({ retries: 2, backoff: { baseMs: 1, maxMs: 5 }, validateIdleMs: false }),
    );
    const afters: AfterReconnectContext[] = [];
    sequelize.addHook('afterReconnect', (ctx) => void afters.push(ctx));
    await sequelize.query('SELECT 1');
    f.proxy.refuse();
    f.proxy.forgetAll();
    const result = await outcome(sequelize.query('SELECT 1 AS one', { type: QueryTypes.SELECT }));
    f.proxy.accept();
    assert.ok(!result.ok && result.error instanceof ConnectionLostError);
    assert.equal(result.error.attempts, 3);
    assert.ok(afters.length >= 1);
    assert.ok(afters.every((a) => a.reconnected === false && a.reconnectError instanceof Error));
    assert.deepEqual(
      afters.map((a) => a.phase),
      ['connect', 'query'],
    );
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });
});
