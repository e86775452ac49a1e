import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataTypes, Model, QueryTypes, type ModelStatic, type Sequelize } from 'sequelize';
import { Sequelize as TypescriptSequelize } from 'sequelize-typescript';
import { autoreconnect, ConnectionLostError, getReconnectStats } from '../../src';
import { admin, assertPoolIntact, testSequelize } from '../support/db';
import { outcome, useFixture } from '../support/fixture';

const root = join(__dirname, '..', '..');

/** Compiles a fixture with tsc, as users compile their models, and loads the output. */
function compileFixture<T>(name: 'legacy' | 'standard'): T {
  try {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, `test/fixtures/tsconfig.${name}.json`)], {
      cwd: root,
      stdio: 'pipe',
    });
  } catch (error) {
    // tsc reports on stdout; the fixtures import the built package, so dist/ must exist.
    const output = (error as { stdout?: Buffer }).stdout?.toString() ?? '';
    throw new Error(`tsc could not compile the ${name} fixture (is dist/ built? npm run build):\n${output}`, { cause: error });
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(join(root, `.tmp/fixtures/${name}/models-${name}.js`)) as T;
}

type Models = Record<string, ModelStatic<Model>> & { calls: string[] };

describe('model-level policy and hooks', () => {
  const f = useFixture();
  let legacy: Models & { initPlainModels(s: Sequelize): void };
  let standard: Models & { initStandardModels(s: Sequelize): void };

  before(async () => {
    await admin(f.url, async (c) => {
      await c.query('CREATE TABLE ledger_entries (id serial PRIMARY KEY, tag text)');
      await c.query('CREATE TABLE cache_entries (id serial PRIMARY KEY, tag text)');
      await c.query('CREATE TABLE counters (key text PRIMARY KEY, value int NOT NULL)');
    });
    legacy = compileFixture('legacy');
    standard = compileFixture('standard');
  });

  /** Cuts the connection under the next `times` statements reading `table`. */
  function cutReads(table: string, times = 1): void {
    f.proxy.arm(`FROM "${table}"`, 'cut-after-send', { times });
  }

  describe('sequelize-typescript models (experimentalDecorators, emitDecoratorMetadata)', () => {
    let sequelize: TypescriptSequelize;
    before(() => {
      sequelize = new TypescriptSequelize(f.proxiedUrl, {
        logging: false,
        dialectOptions: { application_name: f.appName('sts') },
        models: [legacy['LedgerEntry'], legacy['CacheEntry']] as never,
      });
      sequelize.use(autoreconnect({ retries: 0 }));
    });
    after(() => sequelize.close());

    it('@AutoReconnect(false) above @Table: a lost read of that model is not retried', async () => {
      cutReads('ledger_entries');
      const result = await outcome(legacy['LedgerEntry']!.findAll());
      assert.ok(!result.ok && result.error instanceof ConnectionLostError);
      assert.equal(result.error.reason, 'retry-disabled');
    });

    it('@AutoReconnect({ retries: 3 }) below @Table beats the plugin’s retries: 0, and decorated hooks get ctx.model', async () => {
      legacy.calls.length = 0;
      cutReads('cache_entries', 2);
      assert.deepEqual(await legacy['CacheEntry']!.findAll(), []);
      assert.deepEqual(legacy.calls, [
        'CacheEntry@BeforeReconnect model=CacheEntry phase=query',
        'CacheEntry@AfterReconnect reconnected=true',
        'CacheEntry@BeforeReconnect model=CacheEntry phase=query',
        'CacheEntry@AfterReconnect reconnected=true',
      ]);
      await assertPoolIntact(sequelize);
    });

    it('a query option beats the model: reconnect: false on a retried model, { retries } on a model with retries off', async () => {
      cutReads('cache_entries');
      const off = await outcome(legacy['CacheEntry']!.findAll({ reconnect: false }));
      assert.ok(!off.ok && off.error instanceof ConnectionLostError && off.error.reason === 'retry-disabled');
      cutReads('ledger_entries');
      assert.deepEqual(await legacy['LedgerEntry']!.findAll({ reconnect: { retries: 1 } }), []);
    });
  });

  describe('plain models with legacy decorators and Model.init', () => {
    let sequelize: Sequelize;
    before(() => {
      sequelize = testSequelize(f.proxiedUrl, { appName: f.appName('plain'), plugin: { retries: 0 } });
      legacy.initPlainModels(sequelize);
    });
    after(() => sequelize.close());

    it('follow their decorators too', async () => {
      legacy.calls.length = 0;
      cutReads('ledger_entries');
      const result = await outcome(legacy['PlainLedger']!.count());
      assert.ok(!result.ok && result.error instanceof ConnectionLostError && result.error.reason === 'retry-disabled');
      cutReads('cache_entries');
      assert.equal(await legacy['PlainCache']!.count(), 0);
      assert.deepEqual(legacy.calls, ['PlainCache@BeforeReconnect model=PlainCache']);
    });
  });

  describe('plain models with standard (TC39) decorators', () => {
    let sequelize: Sequelize;
    before(() => {
      sequelize = testSequelize(f.proxiedUrl, { appName: f.appName('std'), plugin: { retries: 0 } });
      standard.initStandardModels(sequelize);
    });
    after(() => sequelize.close());

    it('follow their decorators, and Model.addHook runs after the decorated hook, before the instance hook', async () => {
      standard.calls.length = 0;
      const StandardCache = standard['StandardCache']!;
      StandardCache.addHook('beforeReconnect', () => void standard.calls.push('StandardCache.addHook'));
      sequelize.addHook('beforeReconnect', () => void standard.calls.push('sequelize.addHook'));
      cutReads('ledger_entries');
      const result = await outcome(standard['StandardLedger']!.findAll());
      assert.ok(!result.ok && result.error instanceof ConnectionLostError && result.error.reason === 'retry-disabled');
      cutReads('cache_entries');
      assert.deepEqual(await StandardCache.findAll(), []);
      assert.deepEqual(standard.calls, [
        'StandardCache@BeforeReconnect model=StandardCache attempt=1',
        'StandardCache.addHook',
        'sequelize.addHook',
        'StandardCache@AfterReconnect reconnected=true',
      ]);
    });
  });

  describe('model options and per-query options without decorators', () => {
    it('Model.init({ autoReconnect: false }) turns retries off for that model only', async () => {
      const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName() });
      const Off = sequelize.define(
        'Off',
        { tag: DataTypes.TEXT },
        { tableName: 'ledger_entries', timestamps: false, autoReconnect: false },
      );
      const On = sequelize.define('On', { tag: DataTypes.TEXT }, { tableName: 'cache_entries', timestamps: false });
      cutReads('ledger_entries');
      const off = await outcome(Off.findAll());
      assert.ok(!off.ok && off.error instanceof ConnectionLostError && off.error.reason === 'retry-disabled');
      cutReads('cache_entries');
      assert.deepEqual(await On.findAll(), []);
      await sequelize.close();
    });

    it('rejects a mistyped model option at the model’s first query, naming the model and the option', async () => {
      const sequelize = testSequelize(f.url, { appName: f.appName() });
      const Typo = sequelize.define(
        'Typo',
        { tag: DataTypes.TEXT },
        { tableName: 'ledger_entries', autoReconnect: { retires: 2 } as never },
      );
      const result = await outcome(Typo.count());
      assert.ok(!result.ok && result.error instanceof TypeError, !result.ok ? result.error.message : 'resolved');
      assert.match(result.error.message, /model Typo option `retires` \(did you mean `retries`\?\)/);
      await sequelize.close();
    });

    it('rejects a mistyped model option of a model defined before use(), at use()', async () => {
      const sequelize = testSequelize(f.url, { appName: f.appName(), plugin: false });
      sequelize.define('Early', { tag: DataTypes.TEXT }, { autoReconnect: { retryWrites: 'sometimes' } as never });
      assert.throws(() => sequelize.use(autoreconnect()), /model Early option `retryWrites` must be one of/);
      await sequelize.close();
    });

    it('rejects a mistyped query option with a TypeError naming it', async () => {
      const sequelize = testSequelize(f.url, { appName: f.appName() });
      const result = await outcome(sequelize.query('SELECT 1', { reconnect: { idempotent: 'yes' } as never }));
      assert.ok(!result.ok && result.error instanceof TypeError && /`reconnect.idempotent` must be a boolean/.test(result.error.message));
      await sequelize.close();
    });

    it('reconnect: { idempotent: true } turns an ambiguous lost upsert into a success with exactly one row', async () => {
      const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName() });
      const Counter = sequelize.define(
        'Counter',
        { key: { type: DataTypes.TEXT, primaryKey: true }, value: DataTypes.INTEGER },
        { tableName: 'counters', timestamps: false },
      );
      f.proxy.arm('INSERT INTO "counters"', 'swallow-reply');
      const plain = await outcome(Counter.upsert({ key: 'plain', value: 1 }));
      assert.ok(!plain.ok && plain.error instanceof ConnectionLostError && plain.error.mayHaveExecuted);
      f.proxy.arm('INSERT INTO "counters"', 'swallow-reply');
      await Counter.upsert({ key: 'idempotent', value: 1 }, { reconnect: { idempotent: true } });
      const rows = await sequelize.query<{ key: string; value: number }>('SELECT key, value FROM counters ORDER BY key', {
        type: QueryTypes.SELECT,
      });
      assert.deepEqual(rows, [
        { key: 'idempotent', value: 1 },
        { key: 'plain', value: 1 },
      ]);
      assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
      await sequelize.close();
    });
  });
});
