import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueryTypes } from 'sequelize';
import { autoreconnect, getReconnectStats } from '../../src';
import { assertPoolIntact, testSequelize } from '../support/db';
import { outcome, useFixture } from '../support/fixture';

// The plugin stands in for Sequelize's own getConnection once the instance knows its server's
// version (the first connection learns it, unless the `databaseVersion` option gives it).
const KNOWN_VERSION = { databaseVersion: '13.0.0' };
const QUICK_RETRIES = { retries: 30, backoff: { baseMs: 20, maxMs: 60 } };

describe("getConnection: Sequelize's own, with the plugin's recovery", () => {
  const f = useFixture();

  it("runs Sequelize's beforePoolAcquire and afterPoolAcquire hooks as bare Sequelize does", async () => {
    const hookCalls = async (plugin: false | object): Promise<string[]> => {
      const sequelize = testSequelize(f.url, { appName: f.appName(), plugin });
      const seen: string[] = [];
      sequelize.addHook('beforePoolAcquire', (options) => void seen.push(`before ${options.type ?? '-'}`));
      sequelize.addHook('afterPoolAcquire', (connection: unknown, options: { type?: string }) => {
        seen.push(`after ${typeof connection} ${options.type ?? '-'}`);
      });
      try {
        // The first learns the server's version; the others take the plugin's getConnection.
        for (let i = 0; i < 3; i++) await sequelize.query('SELECT 1', { type: QueryTypes.SELECT });
      } finally {
        await sequelize.close();
      }
      return seen;
    };
    const withPlugin = await hookCalls({});
    assert.equal(withPlugin.length, 6);
    assert.deepEqual(withPlugin, await hookCalls(false));
  });

  it('recovers from connections refused on an instance that knows its server (no first connection to learn it)', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: QUICK_RETRIES, ...KNOWN_VERSION });
    try {
      f.proxy.refuse(300);
      const result = await outcome(sequelize.query('SELECT 6 AS n', { type: QueryTypes.SELECT }));
      assert.deepEqual(result.ok && result.value, [{ n: 6 }]);
      assert.ok(getReconnectStats(sequelize).connectFailures >= 1);
      await assertPoolIntact(sequelize);
    } finally {
      f.proxy.accept();
      await sequelize.close();
    }
  });

  it('recovers through a getConnection that something else wrapped before use()', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: false, ...KNOWN_VERSION });
    const cm = (sequelize as unknown as { connectionManager: { getConnection: (options?: object) => Promise<unknown> } }).connectionManager;
    const wrapped = cm.getConnection.bind(cm);
    let calls = 0;
    cm.getConnection = (options) => {
      calls++;
      return wrapped(options);
    };
    sequelize.use(autoreconnect(QUICK_RETRIES));
    try {
      f.proxy.refuse(300);
      const result = await outcome(sequelize.query('SELECT 7 AS n', { type: QueryTypes.SELECT }));
      assert.deepEqual(result.ok && result.value, [{ n: 7 }]);
      assert.ok(calls >= 2, `the wrapper was called ${calls} times`);
      const retried = getReconnectStats(sequelize).retriesSucceeded;
      f.proxy.arm('SELECT 8', 'cut-after-send');
      assert.deepEqual(await sequelize.query('SELECT 8 AS n', { type: QueryTypes.SELECT }), [{ n: 8 }]);
      assert.equal(getReconnectStats(sequelize).retriesSucceeded, retried + 1, 'the lost read was retried once');
      await assertPoolIntact(sequelize);
    } finally {
      f.proxy.accept();
      await sequelize.close();
    }
  });

  it('adopts a connection opened before use(): a read cut on it is retried', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: false, pool: { max: 1 } });
    try {
      assert.deepEqual(await sequelize.query('SELECT 9 AS n', { type: QueryTypes.SELECT }), [{ n: 9 }]);
      const opened = f.proxy.acceptedCount;
      sequelize.use(autoreconnect());
      f.proxy.arm('SELECT 10', 'cut-after-send');
      assert.deepEqual(await sequelize.query('SELECT 10 AS n', { type: QueryTypes.SELECT }), [{ n: 10 }]);
      assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
      assert.equal(f.proxy.acceptedCount, opened + 1, 'the cut statement ran on the connection opened before use()');
      await assertPoolIntact(sequelize);
    } finally {
      await sequelize.close();
    }
  });
});
