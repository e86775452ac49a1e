import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import {
  ConnectionAcquireTimeoutError,
  ConnectionError,
  ConnectionRefusedError,
  HostNotFoundError,
  QueryTypes,
  type Sequelize,
} from 'sequelize';
import { ConnectionLostError, getReconnectStats, type AutoReconnectOptions } from '../../src';
import { admin, testSequelize, withHostPort } from '../support/db';
import { type Fixture, outcome, useFixture } from '../support/fixture';

type Failure = Error & Record<string, unknown>;

/** The error of one `SELECT 1` on `url`, bare and with the plugin. */
async function bothFail(url: string, f: Fixture, plugin: AutoReconnectOptions): Promise<{ bare: Failure; withPlugin: Failure }> {
  const bare = testSequelize(url, { appName: f.appName('bare'), plugin: false });
  const withPlugin = testSequelize(url, { appName: f.appName(), plugin });
  try {
    const [b, p] = await Promise.all([outcome(bare.query('SELECT 1')), outcome(withPlugin.query('SELECT 1'))]);
    assert.ok(!b.ok && !p.ok, 'both fail');
    return { bare: b.error, withPlugin: p.error };
  } finally {
    await Promise.all([bare.close(), withPlugin.close()]);
  }
}

/** Sequelize's class, name and message, as bare Sequelize threw them; and the plugin's fields. */
function assertSameAsBare(bare: Failure, error: Failure): asserts error is Failure & ConnectionLostError {
  assert.ok(error instanceof (bare.constructor as new () => Error), `${error.name} is no ${bare.constructor.name}`);
  assert.equal(error.constructor.name, bare.constructor.name);
  assert.equal(error.name, bare.name);
  assert.equal(error.message, bare.message);
  assert.ok(error instanceof ConnectionError && error instanceof ConnectionLostError);
  assert.equal(error.phase, 'connect');
  assert.equal(error.mayHaveExecuted, false);
  assert.equal((error.parent as { code?: string }).code, (bare['parent'] as { code?: string }).code);
  assert.equal(error.cause instanceof (bare.constructor as new () => Error), true);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const FAST: AutoReconnectOptions = { retries: 2, backoff: { baseMs: 5, maxMs: 10 } };

describe('connect-phase failures keep the error class bare Sequelize throws', () => {
  const f = useFixture();

  it('a refused port: ConnectionRefusedError with its name and message, and a ConnectionLostError after the retries', async () => {
    const { bare, withPlugin } = await bothFail(withHostPort(f.url, '127.0.0.1', await freePort()), f, FAST);
    assert.ok(bare instanceof ConnectionRefusedError);
    assert.equal(bare.name, 'SequelizeConnectionRefusedError');
    assertSameAsBare(bare, withPlugin);
    assert.ok(withPlugin instanceof ConnectionRefusedError);
    assert.deepEqual([withPlugin.attempts, withPlugin.reason], [3, 'retries-exhausted']);
  });

  it('a wrong password: the ConnectionError pg’s 28P01 becomes in Sequelize (AccessDeniedError is MySQL’s), not retried', async () => {
    const role = `denied_${process.pid}`;
    await admin(f.url, (c) => c.query(`CREATE ROLE ${role} LOGIN PASSWORD 'right-password-1'`));
    try {
      const u = new URL(f.url);
      u.username = role;
      u.password = 'wrong-password-1';
      const { bare, withPlugin } = await bothFail(u.toString(), f, FAST);
      assert.equal(bare.constructor, ConnectionError);
      assert.equal((bare['parent'] as { code?: string }).code, '28P01');
      assertSameAsBare(bare, withPlugin);
      assert.deepEqual([withPlugin.attempts, withPlugin.reason], [1, 'not-retryable']);
      assert.ok(!`${withPlugin.message}\n${withPlugin.stack}`.includes('wrong-password-1'));
    } finally {
      await admin(f.url, (c) => c.query(`DROP ROLE IF EXISTS ${role}`));
    }
  });

  it('an unknown host: the class bare Sequelize throws for it (HostNotFoundError for ENOTFOUND)', async () => {
    const { bare, withPlugin } = await bothFail(withHostPort(f.url, 'no-such-host.invalid', 5432), f, FAST);
    // Without a resolver the lookup may fail with EAI_AGAIN, which Sequelize reports as a plain ConnectionError.
    if ((bare['parent'] as { code?: string }).code === 'ENOTFOUND') assert.ok(withPlugin instanceof HostNotFoundError);
    assertSameAsBare(bare, withPlugin);
    assert.equal(withPlugin.attempts, 3);
  });

  it('a full pool: ConnectionAcquireTimeoutError reaches the caller unchanged, not retried, as without the plugin', async () => {
    const exhaust = async (sequelize: Sequelize) => {
      // The pool's one connection opened first: on a loaded machine a connect can take longer
      // than the 200 ms acquire, and the connect goes on (and is pooled) after that timeout.
      for (let tries = 1; ; tries++) {
        const warm = await outcome(sequelize.query('SELECT 0'));
        if (warm.ok || tries === 20) break;
      }
      const held = await sequelize.transaction();
      try {
        await sequelize.query('SELECT 1', { transaction: held });
        return await outcome(sequelize.query('SELECT 2 AS n', { type: QueryTypes.SELECT }));
      } finally {
        await held.rollback();
      }
    };
    const pool = { max: 1, acquire: 200 };
    const bare = testSequelize(f.url, { appName: f.appName('bare'), plugin: false, pool });
    const sequelize = testSequelize(f.url, { appName: f.appName(), plugin: { retries: 5 }, pool });
    try {
      const [b, p] = await Promise.all([exhaust(bare), exhaust(sequelize)]);
      assert.ok(!b.ok && b.error instanceof ConnectionAcquireTimeoutError);
      assert.ok(!p.ok && p.error instanceof ConnectionAcquireTimeoutError, !p.ok ? p.error.name : 'resolved');
      assert.equal(Object.getPrototypeOf(p.error), ConnectionAcquireTimeoutError.prototype, 'not wrapped');
      assert.ok(!(p.error instanceof ConnectionLostError));
      assert.deepEqual([p.error.name, p.error.message], [b.error.name, b.error.message]);
      const stats = getReconnectStats(sequelize);
      assert.deepEqual([stats.retries, stats.connectFailures, stats.notRetried, stats.disconnects], [0, 0, 0, 0]);
      // The pool recovers as soon as the held connection is back.
      assert.deepEqual(await sequelize.query('SELECT 3 AS n', { type: QueryTypes.SELECT }), [{ n: 3 }]);
    } finally {
      await Promise.all([bare.close(), sequelize.close()]);
    }
  });
});
