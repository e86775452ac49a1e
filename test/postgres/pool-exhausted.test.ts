/**
 * "The pool is exhausted" or "the server is unreachable": both reach the caller as Sequelize's
 * ConnectionAcquireTimeoutError; the second says so.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ConnectionAcquireTimeoutError, QueryTypes } from 'sequelize';
import { testSequelize } from '../support/db';
import { outcome, useFixture } from '../support/fixture';

describe('an acquire timeout: pool exhausted or server unreachable', () => {
  const f = useFixture();
  const pool = { max: 1, acquire: 300 };

  it("a pool of one held by a transaction: Sequelize's error, its message unchanged (as bare)", async () => {
    const exhaust = async (plugin: false | object) => {
      const sequelize = testSequelize(f.url, { appName: f.appName(), plugin, pool } as Parameters<typeof testSequelize>[1]);
      const held = await sequelize.transaction();
      try {
        await sequelize.query('SELECT 1', { transaction: held });
        return await outcome(sequelize.query('SELECT 2 AS n', { type: QueryTypes.SELECT }));
      } finally {
        await held.rollback();
        await sequelize.close();
      }
    };
    const [bare, withPlugin] = await Promise.all([exhaust(false), exhaust({ retries: 5 })]);
    assert.ok(!bare.ok && !withPlugin.ok);
    assert.ok(withPlugin.error instanceof ConnectionAcquireTimeoutError);
    assert.equal(withPlugin.error.message, bare.error.message);
    assert.doesNotMatch(withPlugin.error.message, /reach the server/);
  });

  it('a server refusing, then not answering: the same class, and the message says the server was unreachable', async () => {
    const held: Socket[] = [];
    const blackHole = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const { port } = blackHole.address() as { port: number };
    const sequelize = testSequelize(f.proxiedUrl, {
      appName: f.appName(),
      pool,
      // Sequelize's version probe would hang outside the pool, bare or not (an option its types omit).
      ...({ databaseVersion: '16.0.0' } as object),
      plugin: { retries: 0 },
    });
    try {
      f.proxy.refuse();
      const refused = await outcome(sequelize.query('SELECT 1'));
      assert.ok(!refused.ok && !(refused.error instanceof ConnectionAcquireTimeoutError), 'a refusal is reported at once, as itself');
      // New connections now reach a host that never answers.
      f.proxy.setTarget({ host: '127.0.0.1', port });
      f.proxy.accept();
      const result = await outcome(sequelize.query('SELECT 1'));
      assert.ok(!result.ok && result.error instanceof ConnectionAcquireTimeoutError, !result.ok ? result.error.message : 'resolved');
      assert.match(
        result.error.message,
        /: the pool had no free connection, and no attempt to reach the server in the last \d+ ms succeeded \(1 failed: E[A-Z]+; 1 unanswered\)$/,
      );
      assert.ok(result.error.stack?.includes('no attempt to reach the server'), 'the stack header says it too');
      assert.ok(!result.error.message.includes(decodeURIComponent(new URL(f.url).password)));
    } finally {
      held.forEach((s) => s.destroy());
      blackHole.close();
      await sequelize.close();
    }
  });
});
