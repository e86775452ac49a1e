import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Sequelize } from 'sequelize';
import { autoreconnect } from '../../src';

const URL = 'postgres://app:secret@127.0.0.1:1/none';

function instance(): Sequelize {
  return new Sequelize(URL, { logging: false });
}

function internals(sequelize: Sequelize): Record<string, Record<string, unknown>> {
  return sequelize as unknown as Record<string, Record<string, unknown>>;
}

describe('use() checks the Sequelize internals the plugin needs', () => {
  it('installs on this Sequelize', () => {
    assert.doesNotThrow(() => instance().use(autoreconnect()));
  });

  it('fails at once naming connectionManager._connect and the installed version when it is missing', () => {
    const sequelize = instance();
    internals(sequelize)['connectionManager']!['_connect'] = undefined;
    assert.throws(
      () => sequelize.use(autoreconnect()),
      (error: Error) =>
        /connectionManager\._connect\(\)/.test(error.message) &&
        error.message.includes(`Sequelize ${(Sequelize as unknown as { version: string }).version}`) &&
        !error.message.includes('secret'),
    );
  });

  it('names every missing piece at once: the pool size and acquire, the dialect Query class, the driver module', () => {
    const sequelize = instance();
    const cm = internals(sequelize)['connectionManager']!;
    cm['pool'] = {};
    cm['lib'] = undefined;
    internals(sequelize)['dialect']!['Query'] = undefined;
    assert.throws(
      () => sequelize.use(autoreconnect()),
      (error: Error) => {
        for (const piece of [
          'connectionManager.pool.maxSize',
          'connectionManager.pool.acquire()',
          'sequelize.dialect.Query.prototype.run() / formatError()',
          'connectionManager.lib (the driver module)',
        ]) {
          assert.ok(error.message.includes(piece), `${piece} not named in: ${error.message}`);
        }
        return true;
      },
    );
  });

  it('leaves the instance unpatched when it refuses', () => {
    const sequelize = instance();
    const cm = internals(sequelize)['connectionManager']!;
    const { getConnection } = cm;
    (sequelize as unknown as Record<string, unknown>)['getQueryInterface'] = () => ({ rawSelect: () => {}, bulkDelete: () => {} });
    assert.throws(() => sequelize.use(autoreconnect()), /queryInterface\.rawSelect/);
    assert.equal(cm['getConnection'], getConnection);
  });
});
