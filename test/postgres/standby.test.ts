/**
 * The silence watchdog on a hot standby (a replica streaming from its primary): its sessions
 * show in the standby's own pg_stat_activity, so a long query there is checked and left alone,
 * and a read whose connection to it goes silent is found and recovered on the standby.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QueryTypes, type Sequelize } from 'sequelize';
import { getReconnectStats } from '../../src';
import { countingSilenceChecks, testSequelize, uniqueAppName, withHostPort } from '../support/db';
import { FaultProxy } from '../support/fault-proxy';
import { outcome, waitForActiveQuery, within } from '../support/fixture';
import { TestServer } from '../support/postgres';

describe('silence on a hot standby (PostgreSQL)', { timeout: 120_000 }, () => {
  let primary: TestServer;
  let standby: TestServer;
  let proxy: FaultProxy;
  const instances: Sequelize[] = [];
  const open = (url: string, appName: string) => {
    const sequelize = testSequelize(url, { appName, plugin: { silenceMs: 1000 } });
    instances.push(sequelize);
    return sequelize;
  };
  before(async () => {
    primary = await TestServer.start();
    standby = await TestServer.standbyOf(primary);
    proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: standby.port } });
  });
  after(async () => {
    proxy.closeStranded();
    await Promise.all(instances.map((s) => s.close().catch(() => {})));
    await proxy.close();
    await standby.destroy();
    await primary.destroy();
  });

  it('is a standby: read-only, in recovery', async () => {
    const sequelize = open(standby.url, uniqueAppName('standby'));
    const [row] = await sequelize.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery', { type: QueryTypes.SELECT });
    assert.equal(row?.recovery, true);
  });

  it('checks a long query on the standby and never cuts it', async () => {
    const sequelize = open(standby.url, uniqueAppName('standby-long'));
    const started = Date.now();
    const { value, checks } = await countingSilenceChecks(() =>
      sequelize.query('SELECT pg_sleep(3) AS slept, 7 AS answer', { type: QueryTypes.SELECT }),
    );
    assert.deepEqual(value, [{ slept: '', answer: 7 }]);
    assert.ok(checks >= 1, `the watchdog asked ${checks} times`);
    assert.ok(Date.now() - started >= 3000);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.disconnects, 0);
    assert.equal(stats.retries, 0);
  });

  it('finds a read whose connection to the standby went silent, and recovers it there', async () => {
    const app = uniqueAppName('standby-silent');
    const sequelize = open(withHostPort(standby.url, proxy.host, proxy.port), app);
    const result = outcome(sequelize.query('SELECT pg_sleep(0.3) AS slept, 42 AS answer', { type: QueryTypes.SELECT }));
    await waitForActiveQuery(standby.url, app, 'pg_sleep(0.3)');
    proxy.muteAll();
    const mutedAt = Date.now();
    const settled = await within(result, 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.ok(settled !== 'pending' && settled.ok, settled === 'pending' ? 'pending 10 s later' : settled.ok ? '' : settled.error.message);
    assert.deepEqual(settled.value, [{ slept: '', answer: 42 }]);
    assert.ok(elapsed < 5000, `recovered ${elapsed} ms after the silence`);
    assert.equal(getReconnectStats(sequelize).disconnects, 1);
    console.log(`# standby: silent read recovered ${elapsed} ms after the silence`);
  });
});
