/**
 * A real frozen server (every PostgreSQL process stopped with SIGSTOP, as a hung VM): the kernel
 * still completes TCP handshakes, nothing answers. With the defaults' watchdog on, a read in
 * flight is found lost by a check that cannot reach the server, connects are bounded, and the
 * read is recovered once the server thaws; a connect to the frozen server ends by the deadline.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QueryTypes, type Options, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { testSequelize, uniqueAppName } from '../support/db';
import { outcome, waitForActiveQuery } from '../support/fixture';
import { TestServer } from '../support/postgres';

/** Resolves once `check()` holds, polled every 20 ms; rejects after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('a frozen server, thawed later (PostgreSQL, SIGSTOP)', () => {
  let server: TestServer;
  const instances: Sequelize[] = [];
  before(async () => {
    server = await TestServer.start();
  });
  after(async () => {
    server.thaw();
    await Promise.all(instances.map((s) => s.close().catch(() => {})));
    await server.destroy();
  });

  it('recovers a read in flight when the server froze, once it thaws; connects to it are bounded meanwhile', async () => {
    const app = uniqueAppName('frozen-read');
    // Defaults but for the connect bound (1 s, so that several attempts fit) and room to ride out the freeze.
    const sequelize = testSequelize(server.url, { appName: app, plugin: { retries: 100, deadlineMs: 30_000, connectTimeoutMs: 1000 } });
    instances.push(sequelize);
    await sequelize.query('SELECT 1');
    const result = outcome(sequelize.query('SELECT pg_sleep(0.5) AS slept, 7 AS answer', { type: QueryTypes.SELECT }));
    await waitForActiveQuery(server.url, app, 'pg_sleep(0.5)');
    server.freeze();
    const frozenAt = Date.now();
    const stats = () => getReconnectStats(sequelize);
    try {
      // Found lost while frozen: silence (2 s, up to a tick more), then a check that gets no answer (1 s).
      await until(() => stats().disconnects === 1, 8000, 'the silent read found lost');
      const detectedMs = Date.now() - frozenAt;
      // A retry's connect to the frozen server is abandoned at its bound, not left hanging.
      await until(() => stats().reconnectFailures + stats().connectFailures >= 1, 4000, 'a connect abandoned');
      console.log(`# frozen server: read found lost ${detectedMs} ms after the freeze`);
      assert.ok(detectedMs >= 2000, `found lost after ${detectedMs} ms: before silenceMs`);
    } finally {
      server.thaw();
    }
    const thawedAt = Date.now();
    const settled = await result;
    const recoveredMs = Date.now() - thawedAt;
    assert.ok(settled.ok, `the read failed: ${String(!settled.ok && settled.error)}`);
    assert.deepEqual(settled.value, [{ slept: '', answer: 7 }]);
    assert.ok(recoveredMs < 4000, `recovered ${recoveredMs} ms after the thaw`);
    assert.equal(stats().retriesSucceeded, 1);
  });

  it('ends a connect to the frozen server by its deadline, with ConnectionLostError', async () => {
    const app = uniqueAppName('frozen-connect');
    // A known version: the first connection of the instance is the operation's own.
    const known = { databaseVersion: '15.0.0' } as unknown as Options; // Sequelize's option, missing from its types
    const sequelize = testSequelize(server.url, { appName: app, ...known, plugin: { deadlineMs: 3000 } });
    instances.push(sequelize);
    server.freeze();
    try {
      const started = Date.now();
      const settled = await outcome(sequelize.query('SELECT 1', { type: QueryTypes.SELECT }));
      const elapsed = Date.now() - started;
      assert.ok(!settled.ok && settled.error instanceof ConnectionLostError, String(!settled.ok && settled.error));
      assert.equal(settled.error.phase, 'connect');
      assert.ok(elapsed < 3000 + 1500, `gave up ${elapsed} ms after the call (deadline 3000 ms)`);
    } finally {
      server.thaw();
    }
    assert.deepEqual(await sequelize.query('SELECT 1 AS one', { type: QueryTypes.SELECT }), [{ one: 1 }]);
  });
});
