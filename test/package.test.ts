import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { Sequelize } from 'sequelize';
import { autoreconnect, getReconnectStats } from '../src';

const root = `${__dirname}/..`;

describe('the package', () => {
  it('loads by name with require and with import, as one module (built dist/)', () => {
    const script = `
      const cjs = require('sequelize-autoreconnect');
      import('sequelize-autoreconnect').then((esm) => {
        const same = esm.autoreconnect === cjs.autoreconnect && esm.ConnectionLostError === cjs.ConnectionLostError;
        const { Sequelize } = require('sequelize');
        console.log(JSON.stringify({ same, names: Object.keys(esm).sort(), use: typeof Sequelize.prototype.use }));
      });`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' })) as {
      same: boolean;
      names: string[];
      use: string;
    };
    assert.deepEqual(out, {
      same: true,
      names: [
        'AfterReconnect',
        'AutoReconnect',
        'BeforeReconnect',
        'ConnectionLostError',
        'autoreconnect',
        'cachedCredentials',
        'default',
        'getReconnectStats',
        'refreshCredentials',
      ],
      use: 'function',
    });
  });

  it('installs once per instance and returns the instance from use()', async () => {
    const sequelize = new Sequelize('postgres://u:p@127.0.0.1:1/db', { logging: false });
    assert.equal(sequelize.use(autoreconnect()), sequelize);
    assert.throws(() => sequelize.use(autoreconnect()), /already installed/);
    assert.deepEqual(getReconnectStats(sequelize), {
      disconnects: 0,
      connectFailures: 0,
      retries: 0,
      reconnects: 0,
      reconnectFailures: 0,
      retriesSucceeded: 0,
      retriesFailed: 0,
      notRetried: 0,
      validations: 0,
      validationFailures: 0,
      commitsSettled: 0,
      commitsUnknown: 0,
      transactionReplays: 0,
      retired: 0,
    });
    await sequelize.close();
  });

  it('refuses what is not a plugin with a TypeError', async () => {
    const sequelize = new Sequelize('postgres://u:p@127.0.0.1:1/db', { logging: false });
    assert.throws(() => sequelize.use({} as never), TypeError);
    assert.throws(() => autoreconnect().install({} as never), /needs a Sequelize instance/);
    await sequelize.close();
  });
});
