import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueryTypes } from 'sequelize';
import { adminUrl, testSequelize, withHostPort } from '../support/db';
import { outcome, waitForActiveQuery } from '../support/fixture';
import { StalledListener, stalledConnectTests } from '../support/stalled';

describe('postgres: a connect that gets no answer', () => {
  const server = () => {
    const url = new URL(adminUrl());
    return { host: url.hostname, port: Number(url.port) };
  };
  stalledConnectTests(
    async (port, plugin) => testSequelize(withHostPort(adminUrl(), '127.0.0.1', port), { appName: 'stalled', plugin }),
    server,
  );

  it("counts a caller's deadline from its own call when it inherits an attempt that began before it", async () => {
    const stalled = await StalledListener.start();
    stalled.answer(server());
    const app = 'stalled-inherited';
    const sequelize = testSequelize(withHostPort(adminUrl(), '127.0.0.1', stalled.port), {
      appName: app,
      pool: { max: 2 },
      plugin: { deadlineMs: 1500, backoff: { baseMs: 10, maxMs: 10 } },
    });
    const sleep = (s: number) => sequelize.query(`SELECT pg_sleep(${s}) AS slept`, { type: QueryTypes.SELECT });
    try {
      // One connection, busy for 0.8 s; then every new one stalls.
      const busy = sleep(0.8);
      await waitForActiveQuery(adminUrl(), app, 'pg_sleep(0.8)');
      stalled.stall();
      // A starts a connection attempt (bounded by the 1.5 s deadline), and is served first by
      // the busy connection, which it keeps for a second.
      const a = outcome(sleep(1));
      await busy;
      await waitForActiveQuery(adminUrl(), app, 'pg_sleep(1)');
      // B comes while A's attempt still runs: the pool hands it that attempt's failure.
      const asked = Date.now();
      const b = await outcome(sleep(0));
      const elapsed = Date.now() - asked;
      // B's 1.5 s count from its own call: it waits for A's connection instead of giving up.
      assert.ok(b.ok, `B failed ${elapsed} ms after its call: ${String(!b.ok && b.error)}`);
      assert.ok((await a).ok);
    } finally {
      await sequelize.close();
      await stalled.close();
    }
  });
});
