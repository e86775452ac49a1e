import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Model, QueryTypes, Sequelize } from 'sequelize';
import { AutoReconnect, autoreconnect, getReconnectStats } from '../src';
import { adminUrl } from './support/db';

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
        'channels',
        'default',
        'getReconnectStats',
        'instrumentOpenTelemetry',
        'refreshCredentials',
      ],
      use: 'function',
    });
  });

  it('loads nothing of OpenTelemetry until instrumentOpenTelemetry() is called, then @opentelemetry/api (built dist/)', () => {
    const script = `
      const loaded = () => Object.keys(require.cache).filter((f) => f.includes('@opentelemetry')).length > 0;
      const pkg = require('sequelize-autoreconnect');
      const before = loaded();
      pkg.instrumentOpenTelemetry({ meterProvider: false }).disable();
      console.log(JSON.stringify({ before, after: loaded() }));`;
    assert.deepEqual(JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' })), {
      before: false,
      after: true,
    });
  });

  it('accepts as peers the drivers users install: the mariadb connector 3.x (what `npm install mariadb` gives), and 2.5', () => {
    // npm resolves peer ranges with semver (which Sequelize depends on): the same answer.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { satisfies } = require('semver') as { satisfies(version: string, range: string): boolean };
    const { peerDependencies } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      peerDependencies: Record<string, string>;
    };
    for (const version of ['2.5.5', '3.0.2', '3.1.0', '3.5.2']) {
      assert.ok(satisfies(version, peerDependencies['mariadb']!), `mariadb ${version} outside ${peerDependencies['mariadb']}`);
    }
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

  it('says, for a per-call `reconnect: true`, to pass an object or false', async () => {
    const sequelize = new Sequelize(adminUrl(), { logging: false }).use(autoreconnect());
    try {
      await assert.rejects(
        sequelize.query('SELECT 1', { type: QueryTypes.SELECT, reconnect: true as never }),
        (error: Error) =>
          error instanceof TypeError && /`reconnect` takes an object such as \{ retries: 3 \}.*or false.*got true/.test(error.message),
      );
      // The accepted forms still run.
      assert.deepEqual(await sequelize.query('SELECT 1 AS one', { type: QueryTypes.SELECT, reconnect: false }), [{ one: 1 }]);
      assert.deepEqual(await sequelize.query('SELECT 1 AS one', { type: QueryTypes.SELECT, reconnect: { retries: 2 } }), [{ one: 1 }]);
    } finally {
      await sequelize.close();
    }
  });

  it('refuses `native: true` (pg-native) at use() with a TypeError naming the option', async () => {
    const sequelize = new Sequelize('postgres://u:p@127.0.0.1:1/db', { logging: false, native: true });
    assert.throws(
      () => sequelize.use(autoreconnect()),
      (error: Error) => error instanceof TypeError && /`native: true` \(pg-native\) is not supported/.test(error.message),
    );
    await sequelize.close();
  });

  it('refuses use() after close() with an error saying so', async () => {
    const sequelize = new Sequelize('postgres://u:p@127.0.0.1:1/db', { logging: false });
    await sequelize.close();
    assert.throws(() => sequelize.use(autoreconnect()), /use\(\) was called after sequelize\.close\(\)/);
  });

  it('refuses use() on an unsupported dialect, naming the supported ones', async () => {
    // Sequelize loads no driver when given `dialectModule`; the plugin refuses before touching it.
    for (const dialect of ['sqlite', 'mssql'] as const) {
      const sequelize = new Sequelize({ dialect, dialectModule: {}, logging: false });
      assert.throws(
        () => sequelize.use(autoreconnect()),
        new RegExp(`does not support the '${dialect}' dialect yet \\(supported: postgres, mysql, mariadb\\)`),
      );
    }
  });

  it('refuses the options that settle outcomes on MySQL and MariaDB, naming the option', () => {
    for (const dialect of ['mysql', 'mariadb'] as const) {
      for (const [options, name] of [
        [{ retryWrites: 'verified' }, "retryWrites: 'verified'"],
        [{ replayTransactions: true }, 'replayTransactions'],
        [{ replayConflicts: true }, 'replayConflicts'],
      ] as const) {
        const sequelize = new Sequelize({ dialect, dialectModule: {}, logging: false });
        assert.throws(
          () => sequelize.use(autoreconnect(options)),
          (e: unknown) => e instanceof TypeError && e.message.includes(`\`${name}\` is supported on postgres only, not on ${dialect}`),
        );
      }
    }
  });

  it("refuses retryWrites: 'verified' of a model or a call, and a transaction's replay, on MySQL and MariaDB: models defined before use() at use(), others at their first query", async () => {
    const said = (who: string, dialect: string) => (e: unknown) =>
      e instanceof TypeError &&
      e.message.includes(`${who}: 'verified'\` is supported on postgres only, not on ${dialect}: use 'unsent' (the default)`);
    for (const dialect of ['mysql', 'mariadb'] as const) {
      const early = new Sequelize({ dialect, dialectModule: {}, logging: false });
      early.define('Early', {}, { autoReconnect: { retryWrites: 'verified' } });
      assert.throws(() => early.use(autoreconnect()), said('model Early option `retryWrites', dialect));
      // `@AutoReconnect` stores its options on the class: the same check.
      const decorated = new Sequelize({ dialect, dialectModule: {}, logging: false });
      class Ledger extends Model {}
      AutoReconnect({ retryWrites: 'verified' })(Ledger);
      Ledger.init({}, { sequelize: decorated });
      assert.throws(() => decorated.use(autoreconnect()), said('model Ledger option `retryWrites', dialect));
      // After use(): refused before any connection is opened (this driver module is empty).
      const sequelize = new Sequelize({ dialect, dialectModule: {}, logging: false }).use(autoreconnect());
      const Late = sequelize.define('Late', {}, { autoReconnect: { retryWrites: 'verified' } });
      await assert.rejects(Late.findAll(), said('model Late option `retryWrites', dialect));
      await assert.rejects(
        sequelize.query('SELECT 1', { reconnect: { retryWrites: 'verified' } }),
        said('query option `reconnect.retryWrites', dialect),
      );
      for (const key of ['replay', 'conflicts']) {
        await assert.rejects(
          sequelize.transaction({ reconnect: { [key]: true } }, async () => {}),
          (e: unknown) =>
            e instanceof TypeError &&
            e.message.includes(`transaction option \`reconnect.${key}\` is supported on postgres only, not on ${dialect}`),
        );
      }
    }
  });
});
