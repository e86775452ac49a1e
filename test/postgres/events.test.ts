/**
 * The diagnostics_channel events, against real faults: a subscriber on every channel sees what
 * happened, in order, with its fields, and never a password.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueryTypes } from 'sequelize';
import { ConnectionLostError } from '../../src';
import { adminUrl, testSequelize } from '../support/db';
import { assertNoSecret, keysWithout, recordEvents, type EventLog } from '../support/events';
import { defineItem, killedAtGate, outcome, useFixture, waitForActiveQuery } from '../support/fixture';

describe('diagnostics_channel events (PostgreSQL)', () => {
  const f = useFixture();
  const logs: EventLog[] = [];
  const open = (url: string, options: Parameters<typeof testSequelize>[1]) => {
    const sequelize = testSequelize(url, options);
    const log = recordEvents(sequelize);
    logs.push(log);
    return { sequelize, log };
  };
  const proxyHost = () => `${f.proxy.host}:${f.proxy.port}`;
  const directHost = () => `${new URL(f.url).hostname}:${new URL(f.url).port}`;
  after(() => {
    f.proxy.closeStranded();
    for (const log of logs) log.stop();
  });

  it('a read killed under it: connection-lost, retry, reconnect ok, recovered, in that order', async () => {
    const app = f.appName('read');
    const { sequelize, log } = open(f.url, { appName: app });
    const result = await killedAtGate(
      f.url,
      app,
      (held) => sequelize.query(`SELECT ${held.sql} AS s, 42 AS answer`, { type: QueryTypes.SELECT }),
      1,
    );
    assert.ok(result.ok);
    assert.deepEqual(keysWithout(log, 'sweep'), ['connectionLost', 'retry', 'reconnect', 'recovered']);
    const [lost] = log.of('connectionLost');
    assert.equal(lost?.sequelize, sequelize);
    assert.equal(lost?.dialect, 'postgres');
    assert.equal(lost?.host, directHost());
    assert.deepEqual(
      { ...lost, sequelize: undefined, host: undefined, dialect: undefined },
      {
        sequelize: undefined,
        host: undefined,
        dialect: undefined,
        phase: 'query',
        failure: 'lost',
        code: '57P01',
        inTransaction: false,
      },
    );
    const [retry] = log.of('retry');
    assert.equal(retry?.attempt, 1);
    assert.equal(retry?.phase, 'query');
    assert.equal(retry?.operation, 'read');
    assert.ok(retry.delayMs >= 0 && retry.delayMs < 1000, `delay ${retry.delayMs}`);
    const [reconnect] = log.of('reconnect');
    assert.equal(reconnect?.ok, true);
    assert.equal(reconnect?.attempt, 1);
    assert.equal(reconnect?.failure, undefined);
    assert.ok(reconnect.durationMs >= 0);
    const [recovered] = log.of('recovered');
    assert.equal(recovered?.attempts, 2);
    assert.ok(recovered.elapsedMs >= 0);
    // The pool of the dead connection is swept: its older idle connections will be checked.
    assert.deepEqual(
      log.of('sweep').map((s) => [s.pool, s.reason]),
      [['write', 'dead']],
    );
    await sequelize.close();
  });

  it('a server refusing until the deadline: connection-lost (connect) and failed reconnects, then give-up with its reason', async () => {
    const { sequelize, log } = open(f.proxiedUrl, {
      appName: f.appName('refused'),
      plugin: { retries: 50, deadlineMs: 600, backoff: { baseMs: 20, maxMs: 50 } },
    });
    f.proxy.refuse();
    try {
      const result = await outcome(sequelize.query('SELECT 1'));
      assert.ok(!result.ok && result.error instanceof ConnectionLostError);
    } finally {
      f.proxy.accept();
    }
    const keys = keysWithout(log, 'sweep');
    assert.equal(keys[0], 'connectionLost');
    assert.equal(keys.at(-1), 'giveUp');
    assert.ok(keys.includes('retry') && keys.includes('reconnect'));
    for (const lost of log.of('connectionLost')) {
      assert.equal(lost.phase, 'connect');
      assert.equal(lost.failure, 'transient');
      assert.equal(lost.host, proxyHost());
      assert.equal(lost.inTransaction, false);
    }
    assert.ok(log.of('reconnect').every((r) => !r.ok && r.failure === 'transient'));
    // Each retry comes before its reconnect attempt, numbered from 1.
    const order = log.events
      .filter((e) => e.key === 'retry' || e.key === 'reconnect')
      .map((e) => `${e.key}:${(e.payload as { attempt: number }).attempt}`);
    assert.deepEqual(order.slice(0, 4), ['retry:1', 'reconnect:1', 'retry:2', 'reconnect:2']);
    const [giveUp] = log.of('giveUp');
    assert.equal(giveUp?.reason, 'deadline-exceeded');
    assert.equal(giveUp?.mayHaveExecuted, false);
    assert.equal(giveUp?.committed, false);
    assert.equal(giveUp?.attempts, log.of('retry').length + 1);
    assert.ok(giveUp.elapsedMs >= 500, `gave up after ${giveUp.elapsedMs} ms`);
    assert.equal(log.of('recovered').length, 0);
    await sequelize.close();
  });

  it('a write killed under it is not retried: connection-lost, then give-up with mayHaveExecuted', async () => {
    const app = f.appName('write');
    const { sequelize, log } = open(f.url, { appName: app });
    const tag = f.appName('tag');
    const result = await killedAtGate(
      f.url,
      app,
      (held) => sequelize.query(`INSERT INTO items (tag) SELECT '${tag}' WHERE ${held.sql} IS NOT NULL`, { type: QueryTypes.INSERT }),
      1,
    );
    assert.ok(!result.ok && result.error instanceof ConnectionLostError);
    assert.equal(await f.count(tag), 0);
    assert.deepEqual(keysWithout(log, 'sweep'), ['connectionLost', 'giveUp']);
    const [giveUp] = log.of('giveUp');
    assert.equal(giveUp?.reason, 'write-may-have-executed');
    assert.equal(giveUp?.mayHaveExecuted, true);
    assert.equal(giveUp?.committed, undefined);
    assert.equal(giveUp?.attempts, 1);
    await sequelize.close();
  });

  it('validation finds a dead idle connection: validation-failed with how long it idled', async () => {
    const { sequelize, log } = open(f.proxiedUrl, { appName: f.appName('validate'), plugin: { validateIdleMs: 50 } });
    const Item = defineItem(sequelize);
    await Item.count();
    // Idle past validateIdleMs: the next checkout validates it.
    await sleep(100);
    f.proxy.forgetAll();
    await Item.create({ tag: f.appName('validated') });
    assert.equal(log.of('connectionLost').length, 0, 'no statement met the dead connection');
    const [failed] = log.of('validationFailed');
    assert.ok(failed && failed.idleMs >= 50, `idle ${failed?.idleMs} ms`);
    assert.equal(failed.host, proxyHost());
    assert.deepEqual(log.keys()[0], 'validationFailed');
    await sequelize.close();
  });

  it('a connection past maxLifetimeMs: retired with reason lifetime and its age', async () => {
    const { sequelize, log } = open(f.url, { appName: f.appName('lifetime'), plugin: { maxLifetimeMs: 150 } });
    await sequelize.query('SELECT 1');
    await sleep(200);
    await sequelize.query('SELECT 1');
    const [retired] = log.of('retired');
    assert.equal(retired?.reason, 'lifetime');
    assert.ok(retired.ageMs >= 135, `age ${retired.ageMs} ms`);
    await sequelize.close();
  });

  it('a verified write whose COMMIT reply was lost: settled, committed', async () => {
    const { sequelize, log } = open(f.proxiedUrl, { appName: f.appName('verified'), plugin: { retryWrites: 'verified' } });
    const Item = defineItem(sequelize);
    const tag = f.appName('settled');
    f.proxy.arm('COMMIT', 'swallow-reply');
    await Item.create({ tag });
    assert.equal(await f.count(tag), 1);
    assert.deepEqual(
      log.of('settled').map((s) => [s.kind, s.committed]),
      [['verified-write', true]],
    );
    const [lost] = log.of('connectionLost');
    assert.equal(lost?.phase, 'query');
    assert.equal(log.keys().indexOf('connectionLost') < log.keys().indexOf('settled'), true);
    await sequelize.close();
  });

  it('a managed transaction replayed: connection-lost (transaction), retry, reconnect, transaction-replayed, recovered', async () => {
    const app = f.appName('replay');
    const { sequelize, log } = open(f.url, { appName: app, plugin: { replayTransactions: true } });
    const Item = defineItem(sequelize);
    const tag = f.appName('tx');
    const result = await killedAtGate(
      f.url,
      app,
      (held) =>
        sequelize.transaction(async (t) => {
          await Item.create({ tag }, { transaction: t });
          await sequelize.query(`SELECT ${held.sql}`, { transaction: t });
        }),
      1,
    );
    assert.ok(result.ok);
    assert.equal(await f.count(tag), 1);
    const keys = keysWithout(log, 'sweep');
    // The statement's own give-up (the transaction is lost) comes first: the replay is what recovers it.
    assert.deepEqual(keys, ['connectionLost', 'giveUp', 'retry', 'reconnect', 'transactionReplayed', 'recovered']);
    assert.equal(log.of('connectionLost')[0]?.phase, 'transaction');
    assert.equal(log.of('connectionLost')[0]?.inTransaction, true);
    assert.equal(log.of('giveUp')[0]?.reason, 'in-transaction');
    assert.equal(log.of('retry')[0]?.operation, 'transaction');
    assert.equal(log.of('retry')[0]?.phase, 'transaction');
    assert.equal(log.of('transactionReplayed')[0]?.attempt, 1);
    await sequelize.close();
  });

  it('a connection silent under a read: silence-detected with its latency, then the read recovers', async () => {
    const app = f.appName('silent');
    const { sequelize, log } = open(f.proxiedUrl, { appName: app, plugin: { silenceMs: 1000 } });
    const result = outcome(sequelize.query('SELECT pg_sleep(0.3) AS slept, 42 AS answer', { type: QueryTypes.SELECT }));
    await waitForActiveQuery(adminUrl(), app, 'pg_sleep(0.3)');
    f.proxy.muteAll();
    const detected = await log.next('silenceDetected', 15_000);
    assert.ok((await result).ok);
    assert.ok(detected.silentMs >= 1000, `silent ${detected.silentMs} ms`);
    assert.ok(detected.detectionMs >= detected.silentMs, `detected ${detected.detectionMs} ms after the silence began`);
    assert.equal(typeof detected.verdict, 'string');
    assert.equal(detected.host, proxyHost());
    assert.deepEqual(keysWithout(log, 'sweep'), ['silenceDetected', 'connectionLost', 'retry', 'reconnect', 'recovered']);
    await sequelize.close();
  });

  it('never carries the password: every payload of every test above', () => {
    const password = decodeURIComponent(new URL(f.url).password);
    assert.ok(password.length > 0, 'the test server has a password');
    assert.ok(logs.reduce((n, l) => n + l.events.length, 0) > 10);
    for (const log of logs) assertNoSecret(log, password);
  });
});
