import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { DatabaseError, type Sequelize } from 'sequelize';
import { autoreconnect, ConnectionLostError } from '../../src';
import { describeWith } from '../support/binaries';
import { outcome } from '../support/fixture';
import { mariadbRequirement } from '../support/mariadb';
import { FAMILY, useMyFixture } from '../support/mysql';
import { assertConstraintErrorsAsBare, errorsBareAndPlugin } from '../support/transparency/errors';

for (const dialect of FAMILY) {
  describeWith(mariadbRequirement(), `${dialect}: SQL errors as bare Sequelize delivers them`, () => {
    const f = useMyFixture();
    let bare: Sequelize;
    let sequelize: Sequelize;
    before(async () => {
      await f.admin(async (c) => {
        await c.query(`CREATE TABLE ${f.database}.owners (id INT PRIMARY KEY, email VARCHAR(64) UNIQUE) ENGINE=InnoDB`);
        await c.query(
          `CREATE TABLE ${f.database}.pets (id INT PRIMARY KEY, owner INT, FOREIGN KEY (owner) REFERENCES ${f.database}.owners (id)) ENGINE=InnoDB`,
        );
        await c.query(`INSERT INTO ${f.database}.owners VALUES (1, 'a@example.com')`);
      });
      bare = (await f.app(dialect, { plugin: false, proxied: false })).sequelize;
      sequelize = (await f.app(dialect, { proxied: false })).sequelize;
    });

    const both = (run: (s: Sequelize) => Promise<unknown>) => errorsBareAndPlugin(bare, sequelize, run);

    it('a unique and a foreign key constraint: their classes and fields', async () => {
      await assertConstraintErrorsAsBare(both);
    });

    it('a DatabaseError’s stack is the caller’s, frame for frame as bare Sequelize captures it', async () => {
      const { bare: b, plugin: p, uncaught } = await both((s) => s.query('SELECT * FROM no_such_table'));
      assert.deepEqual(uncaught, []);
      assert.ok(p instanceof DatabaseError);
      assert.match(p.stack ?? '', /error-transparency\.test\.ts/);
      assert.equal(p.stack, b.stack);
      // The mariadb connector names the connection in its messages.
      const connectionless = (message: string) => message.replace(/\(conn=\d+, /, '(');
      assert.equal(connectionless(p.message), connectionless(b.message));
    });

    it('a formatError that throws something unexpected: the caller’s rejection, never an uncaught exception', async () => {
      const [b2, p2] = [(await f.app(dialect, { plugin: false })).sequelize, (await f.app(dialect, { plugin: false })).sequelize];
      for (const s of [b2, p2]) {
        const d = (s as unknown as { dialect: { Query: new (...args: never[]) => object } }).dialect;
        d.Query = class extends d.Query {
          formatError(): never {
            throw new TypeError('formatError broke');
          }
        };
      }
      p2.use(autoreconnect());
      const { bare: b, plugin: p, uncaught } = await errorsBareAndPlugin(b2, p2, (s) => s.query('SELECT * FROM no_such_table'));
      assert.deepEqual(uncaught, []);
      assert.ok(b instanceof TypeError && p instanceof TypeError);
      assert.equal(p.message, 'formatError broke');
    });

    it('a ConnectionLostError carries the caller’s stack', async () => {
      const app = await f.app(dialect, { proxied: false, plugin: { retries: 1 } });
      const held = await f.gate();
      try {
        // Awaited here, so that this file is in the async stack Sequelize captures.
        const write = outcome((async () => await app.sequelize.query(`INSERT INTO items (tag) SELECT CONCAT('lost', ${held.sql})`))());
        await held.held(app.user);
        assert.equal(await f.kill(app.user), 1);
        const result = await write;
        assert.ok(!result.ok && result.error instanceof ConnectionLostError, result.ok ? 'resolved' : result.error.message);
        assert.match(result.error.stack ?? '', /^ConnectionLostError: Database connection lost/);
        assert.match(result.error.stack ?? '', /error-transparency\.test\.ts/);
        assert.doesNotMatch(result.error.stack ?? '', /[/\\]src[/\\](engine|host)[/\\]/);
      } finally {
        await held.open();
      }
    });

    it('a custom dialectModule stays what connectionManager.lib is', async () => {
      const driver: object = dialect === 'mysql' ? await import('mysql2') : await import('mariadb');
      const { sequelize: s } = await f.app(dialect, { proxied: false, dialectModule: driver });
      assert.equal((s.connectionManager as unknown as { lib: unknown }).lib, driver);
      assert.deepEqual(await s.query('SELECT 7 AS n', { plain: true }), { n: 7 });
    });
  });
}
