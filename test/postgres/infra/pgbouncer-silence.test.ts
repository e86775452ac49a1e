/**
 * The watchdog behind pgbouncer: the pid a client learns at login is pgbouncer's, not the
 * server backend's, so `pg_stat_activity` cannot vouch for it. The watchdog notices (the check's
 * own pid does not match either), never cuts, and falls back to TCP keepalive.
 */
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { after, before, it } from 'node:test';
import { QueryTypes } from 'sequelize';
import { getReconnectStats } from '../../../src';
import { describeWith } from '../../support/binaries';
import { adminUrl, testSequelize } from '../../support/db';
import { fixture, type Fixture } from '../../support/fixture';
import { PgBouncer, pgbouncerBinary } from '../../support/pgbouncer';
import { SUPERUSER, SUPERUSER_PASSWORD } from '../../support/postgres';

describeWith(pgbouncerBinary(), 'the silence watchdog behind pgbouncer', () => {
  let f: Fixture;
  let bouncer: PgBouncer;
  before(async () => {
    f = await fixture();
    const server = new URL(adminUrl());
    bouncer = await PgBouncer.start({
      target: { host: server.hostname, port: Number(server.port) },
      users: { [SUPERUSER]: SUPERUSER_PASSWORD },
      poolMode: 'transaction',
    });
  });
  after(async () => {
    await bouncer?.close();
    await f?.close();
  });

  it('never cuts a long query in transaction pooling, and turns keepalive on instead', async () => {
    const sequelize = testSequelize(bouncer.url(f.url), { appName: f.appName('bouncer-long'), plugin: { silenceMs: 500 } });
    const setKeepAlive = Socket.prototype.setKeepAlive;
    const keptAlive: unknown[][] = [];
    Socket.prototype.setKeepAlive = function (this: Socket, ...args: Parameters<Socket['setKeepAlive']>) {
      keptAlive.push(args);
      return setKeepAlive.apply(this, args);
    };
    try {
      const rows = await sequelize.query('SELECT pg_sleep(2.5) AS slept, 7 AS answer', { type: QueryTypes.SELECT });
      assert.deepEqual(rows, [{ slept: '', answer: 7 }]);
    } finally {
      Socket.prototype.setKeepAlive = setKeepAlive;
      await sequelize.close();
    }
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.retries, 0);
    assert.equal(stats.disconnects, 0);
    assert.deepEqual(keptAlive, [[true, 1000]]);
  });
});
