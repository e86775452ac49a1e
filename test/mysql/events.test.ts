/** The diagnostics_channel events for the MySQL family (mysql2 and mariadb drivers), against real faults. */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueryTypes } from 'sequelize';
import { ConnectionLostError } from '../../src';
import { describeWith } from '../support/binaries';
import { assertNoSecret, keysWithout, recordEvents, type EventLog } from '../support/events';
import { defineItem, outcome } from '../support/fixture';
import { mariadbRequirement } from '../support/mariadb';
import { FAMILY, myKilledAtGate, type MyAppOptions, useMyFixture } from '../support/mysql';

for (const dialect of FAMILY) {
  describeWith(mariadbRequirement(), `${dialect}: diagnostics_channel events`, () => {
    const f = useMyFixture();
    const logs: Array<{ log: EventLog; password: string }> = [];
    const open = async (options?: MyAppOptions) => {
      const app = await f.app(dialect, options);
      const log = recordEvents(app.sequelize);
      logs.push({ log, password: app.password });
      return { ...app, log };
    };
    after(() => logs.forEach(({ log }) => log.stop()));

    it('a read killed under it: connection-lost, retry, reconnect ok, recovered', async () => {
      const { sequelize, user, log } = await open({ proxied: false });
      const result = await myKilledAtGate(
        f,
        user,
        (held) => sequelize.query(`SELECT ${held.sql} AS g, 42 AS answer`, { type: QueryTypes.SELECT }),
        1,
      );
      assert.ok(result.ok, !result.ok ? result.error.message : '');
      assert.deepEqual(keysWithout(log, 'sweep'), ['connectionLost', 'retry', 'reconnect', 'recovered']);
      const [lost] = log.of('connectionLost');
      assert.equal(lost?.dialect, dialect);
      assert.equal(lost?.phase, 'query');
      assert.equal(lost?.failure, 'lost');
      assert.equal(typeof lost?.code, 'string');
      assert.equal(log.of('retry')[0]?.operation, 'read');
      assert.equal(log.of('reconnect')[0]?.ok, true);
      assert.equal(log.of('recovered')[0]?.attempts, 2);
    });

    it('a server refusing until the deadline: connect-phase losses, then give-up with deadline-exceeded', async () => {
      const { sequelize, log } = await open({ plugin: { retries: 50, deadlineMs: 600, backoff: { baseMs: 20, maxMs: 50 } } });
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
      assert.ok(log.of('connectionLost').every((l) => l.phase === 'connect' && l.host === `${f.proxy.host}:${f.proxy.port}`));
      assert.ok(log.of('reconnect').length > 0 && log.of('reconnect').every((r) => !r.ok));
      const [giveUp] = log.of('giveUp');
      assert.equal(giveUp?.reason, 'deadline-exceeded');
      assert.equal(giveUp?.mayHaveExecuted, false);
    });

    it('a write killed under it is not retried: give-up with mayHaveExecuted', async () => {
      const { sequelize, user, log } = await open({ proxied: false });
      const tag = `${dialect}-events-write`;
      const result = await myKilledAtGate(
        f,
        user,
        (held) =>
          sequelize.query(`INSERT INTO items (tag) SELECT '${tag}' FROM DUAL WHERE ${held.sql} IS NOT NULL`, { type: QueryTypes.INSERT }),
        1,
      );
      assert.ok(!result.ok && result.error instanceof ConnectionLostError);
      assert.deepEqual(keysWithout(log, 'sweep'), ['connectionLost', 'giveUp']);
      assert.equal(log.of('giveUp')[0]?.mayHaveExecuted, true);
      assert.equal(log.of('giveUp')[0]?.reason, 'write-may-have-executed');
    });

    it('validation finds a dead idle connection; a connection past its lifetime is retired', async () => {
      const { sequelize, log } = await open({ plugin: { validateIdleMs: 50 } });
      const Item = defineItem(sequelize);
      await Item.count();
      await sleep(100);
      f.proxy.forgetAll();
      await Item.count();
      assert.ok((log.of('validationFailed')[0]?.idleMs ?? 0) >= 50);
      assert.equal(log.of('connectionLost').length, 0);

      const aged = await open({ plugin: { maxLifetimeMs: 150 } });
      await aged.sequelize.query('SELECT 1');
      await sleep(200);
      await aged.sequelize.query('SELECT 1');
      assert.equal(aged.log.of('retired')[0]?.reason, 'lifetime');
    });

    it('never carries the password', () => {
      assert.ok(logs.reduce((n, l) => n + l.log.events.length, 0) > 5);
      for (const { log, password } of logs) assertNoSecret(log, password);
    });
  });
}
