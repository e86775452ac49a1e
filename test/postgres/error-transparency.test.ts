import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import pg from 'pg';
import { DatabaseError, ExclusionConstraintError, Sequelize, UnknownConstraintError } from 'sequelize';
import { autoreconnect, ConnectionLostError } from '../../src';
import { admin, adminUrl, terminateBackends, testSequelize } from '../support/db';
import { fixture, gate, outcome, useFixture } from '../support/fixture';
import { assertAsBare, assertConstraintErrorsAsBare, errorsBareAndPlugin, uncaughtDuring } from '../support/transparency/errors';

/**
 * Errors that are not connection losses reach the caller as bare Sequelize delivers them: class,
 * message, fields and the stack Sequelize captures where the statement was made, whatever its
 * `formatError` does (returns, throws, or throws something unexpected), and never as an
 * uncaught exception from inside the driver's callback.
 */
describe('SQL errors on PostgreSQL: as bare Sequelize delivers them', () => {
  const f = useFixture(() => [bare, sequelize]);
  let bare: Sequelize;
  let sequelize: Sequelize;
  before(async () => {
    await admin(f.url, (c) =>
      c.query(`
        CREATE TABLE owners (id int PRIMARY KEY, email text UNIQUE);
        CREATE TABLE pets (id int PRIMARY KEY, owner int REFERENCES owners (id));
        CREATE TABLE bookings (id int PRIMARY KEY, during tsrange, EXCLUDE USING gist (during WITH &&));
        INSERT INTO owners VALUES (1, 'a@example.com');
        INSERT INTO bookings VALUES (1, '[2020-01-01, 2020-01-02)');`),
    );
    bare = testSequelize(f.url, { appName: f.appName('bare'), plugin: false });
    sequelize = testSequelize(f.url, { appName: f.appName() });
  });

  const both = <T>(run: (s: Sequelize) => Promise<T>) => errorsBareAndPlugin(bare, sequelize, run);

  it('an unknown constraint: UnknownConstraintError (Sequelize’s formatError throws it), no uncaught exception', async () => {
    const { bare: b, plugin: p, uncaught } = await both((s) => s.getQueryInterface().removeConstraint('owners', 'no_such_constraint'));
    assert.deepEqual(uncaught, []);
    assert.ok(b instanceof UnknownConstraintError);
    assert.ok(p instanceof UnknownConstraintError, p.name);
    assert.deepEqual([p.message, p['constraint'], p['table']], [b.message, b['constraint'], b['table']]);
    assert.equal(p.stack, b.stack);
  });

  it('a unique, a foreign key and an exclusion constraint: their classes and fields', async () => {
    await assertConstraintErrorsAsBare(both);
    const exclusion = await both((s) => s.query("INSERT INTO bookings VALUES (2, '[2020-01-01 12:00, 2020-01-03)')"));
    assert.ok(exclusion.plugin instanceof ExclusionConstraintError);
    assert.deepEqual(
      [exclusion.plugin.message, exclusion.plugin['constraint'], exclusion.plugin['fields']],
      [exclusion.bare.message, exclusion.bare['constraint'], exclusion.bare['fields']],
    );
    assertAsBare(exclusion);
  });

  it('a DatabaseError’s stack is the caller’s, as bare Sequelize captures it (not the driver’s parser)', async () => {
    const { bare: b, plugin: p } = await both((s) => s.query('SELECT * FROM no_such_table'));
    assert.ok(p instanceof DatabaseError);
    assert.match(p.stack ?? '', /error-transparency\.test\.ts/);
    assert.doesNotMatch(p.stack ?? '', /pg-protocol/);
    assert.equal(p.stack, b.stack);
    assert.deepEqual([p.message, (p['parent'] as { code?: string }).code, p['sql']], [b.message, '42P01', b['sql']]);
  });

  it('a formatError that throws something unexpected: the caller’s rejection, as bare, never an uncaught exception', async () => {
    // Each instance's own Query class (Sequelize's is shared by every instance in the process).
    const broken = (s: Sequelize) => {
      const dialect = (s as unknown as { dialect: { Query: new (...args: never[]) => object } }).dialect;
      dialect.Query = class extends dialect.Query {
        formatError(): never {
          throw new TypeError('formatError broke');
        }
      };
    };
    const b2 = testSequelize(f.url, { appName: f.appName('bare'), plugin: false });
    const p2 = testSequelize(f.url, { appName: f.appName(), plugin: false });
    try {
      broken(b2);
      broken(p2);
      p2.use(autoreconnect());
      const { bare: b, plugin: p, uncaught } = await errorsBareAndPlugin(b2, p2, (s) => s.query('SELECT * FROM no_such_table'));
      assert.deepEqual(uncaught, []);
      assert.ok(b instanceof TypeError && p instanceof TypeError);
      assert.equal(p.message, 'formatError broke');
    } finally {
      await Promise.all([b2.close(), p2.close()]);
    }
  });

  it('a ConnectionLostError carries the caller’s stack too', async () => {
    const app = f.appName();
    const s = testSequelize(f.url, { appName: app, plugin: { retries: 1 } });
    const held = await gate(f.url);
    try {
      // Awaited here, so that this file is in the async stack Sequelize captures.
      const write = outcome((async () => await s.query(`INSERT INTO items (tag) SELECT 'lost' || ${held.sql}`))());
      await held.held(app);
      assert.equal(await terminateBackends(adminUrl(), app), 1);
      const result = await write;
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, result.ok ? 'resolved' : result.error.name);
      assert.equal(result.error.reason, 'write-may-have-executed');
      assert.match(result.error.stack ?? '', /^ConnectionLostError: Database connection lost/);
      assert.match(result.error.stack ?? '', /error-transparency\.test\.ts/);
      assert.doesNotMatch(result.error.stack ?? '', /pg-protocol|[/\\]src[/\\]engine[/\\]/);
    } finally {
      await held.open();
      await s.close();
    }
  });
});

describe('a custom dialectModule', () => {
  it('stays what connectionManager.lib is, and its clients are guarded and watched', async () => {
    const f = await fixture();
    const app = f.appName();
    const sequelize = new Sequelize(f.url, {
      dialect: 'postgres',
      dialectModule: pg,
      logging: false,
      dialectOptions: { application_name: app },
    });
    sequelize.use(autoreconnect());
    try {
      assert.equal((sequelize.connectionManager as unknown as { lib: unknown }).lib, pg);
      await sequelize.query('SELECT 1');
      // The connection is killed while idle in the pool: the next read is recovered.
      assert.equal(await terminateBackends(adminUrl(), app), 1);
      const { uncaught, value } = await uncaughtDuring(() => sequelize.query('SELECT 2 AS n', { plain: true }));
      assert.deepEqual([uncaught, value], [[], { n: 2 }]);
    } finally {
      await f.close(sequelize);
    }
  });

  it('one without a Client (a stub) is accepted at use(), and fails to connect for the same reason, at once', async () => {
    const stub = { verbose: () => stub };
    const make = () => new Sequelize('postgres://nobody@127.0.0.1:9/none', { dialectModule: stub, logging: false });
    const bare = make();
    const withPlugin = make().use(autoreconnect({ retries: 0 }));
    assert.equal((withPlugin.connectionManager as unknown as { lib: unknown }).lib, stub);
    const [b, p] = await Promise.all([outcome(bare.query('SELECT 1')), outcome(withPlugin.query('SELECT 1'))]);
    assert.ok(!b.ok && !p.ok);
    assert.equal(b.error.message, 'this.lib.Client is not a constructor');
    // Every connect failure is reported as one (docs/transparency.md): not retried, the cause named.
    assert.ok(p.error instanceof ConnectionLostError);
    assert.deepEqual([p.error.phase, p.error.reason, p.error.attempts], ['connect', 'not-retryable', 1]);
    assert.ok(p.error.message.includes(b.error.message), p.error.message);
    await Promise.all([bare.close(), withPlugin.close()]);
  });
});
