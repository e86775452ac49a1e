/**
 * Back at once: reads sleeping in a long connect backoff go as soon as the server answers
 * again, rather than when their jittered delays end.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { QueryTypes, type Options, type Sequelize } from 'sequelize';
import { getReconnectStats } from '../../src';
import { createServer, type AddressInfo } from 'node:net';
import { SCOUT_INTERVAL_MS } from '../../src/core/backoff';
import { KNOCK_INTERVAL_MS } from '../../src/engine/scout';
import { adminUrl, assertPoolIntact, testSequelize, withHostPort } from '../support/db';
import { FaultProxy } from '../support/fault-proxy';
import { outcome, useFixture } from '../support/fixture';
import { until } from '../support/workload';

describe('back at once', { timeout: 60_000 }, () => {
  const f = useFixture();

  /** How long bare Sequelize's first statement on a new connection takes through the path now (a loaded machine takes longer). */
  async function freshConnection(bare: Sequelize): Promise<number> {
    const started = Date.now();
    await bare.query('SELECT 1', { type: QueryTypes.SELECT });
    return Date.now() - started;
  }

  it('reads waiting in a 500-2000 ms backoff complete about two fresh connections after the path reopens', async () => {
    const sequelize = testSequelize(f.proxiedUrl, {
      appName: f.appName(),
      pool: { max: 4 },
      plugin: { retries: 1000, deadlineMs: 60_000, backoff: { baseMs: 500, maxMs: 2000 } },
    });
    // Its version given, so that its first statement needs one connection, as a read's does.
    const known = { databaseVersion: '14.0.0' } as unknown as Options; // Sequelize's option, missing from its types
    const bare = testSequelize(f.proxiedUrl, { ...known, appName: f.appName('bare'), plugin: false });
    f.proxy.refuse();
    try {
      const finished: number[] = [];
      const reads = Array.from({ length: 3 }, () =>
        outcome(sequelize.query('SELECT 1 AS n', { type: QueryTypes.SELECT }).finally(() => finished.push(Date.now()))),
      );
      // Several retries each, so that their delays are well past the scout's interval.
      await until('the reads to be backing off', () => getReconnectStats(sequelize).retries >= 9, 20_000);
      const before = getReconnectStats(sequelize).retries;
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      const reopenedAt = Date.now();
      f.proxy.accept();
      // A reference made at the same moment: what one new connection costs on this machine now.
      const [results, reference] = await Promise.all([Promise.all(reads), freshConnection(bare)]);
      lag.disable();
      for (const r of results) assert.ok(r.ok, !r.ok ? r.error.message : '');
      const last = Math.max(...finished) - reopenedAt;
      // The scout's connection (one interval, then a connect), then the other reads' own
      // connections, made together: about two fresh connections. Without the scout the last
      // would wait for its timer, up to 2000 ms.
      const boundMs = 2 * reference + SCOUT_INTERVAL_MS + 50 + Math.round(lag.max / 1e6);
      console.log(`# last read ${last} ms after reopening; a fresh connection then took ${reference} ms`);
      assert.ok(last < boundMs, `the last read finished ${last} ms after the path reopened (bound ${boundMs} ms)`);
      // The reads' own attempts after reopening succeed: one retry each at most (a sleeper's timer can end first).
      assert.ok(getReconnectStats(sequelize).retries - before <= 3, JSON.stringify(getReconnectStats(sequelize)));
      await assertPoolIntact(sequelize);
    } finally {
      f.proxy.accept();
      await Promise.all([sequelize.close(), bare.close()]);
    }
  });

  it('while nothing listens it knocks rather than logs in, and the reads go once the port opens', async () => {
    // A port where nothing listens (a server stopped: its port refuses), opened later by a proxy to the server.
    const port = await freePort();
    const sequelize = testSequelize(withHostPort(f.url, '127.0.0.1', port), {
      appName: f.appName(),
      pool: { max: 4 },
      plugin: { retries: 1000, deadlineMs: 60_000, backoff: { baseMs: 500, maxMs: 2000 } },
    });
    const known = { databaseVersion: '14.0.0' } as unknown as Options; // Sequelize's option, missing from its types
    const bare = testSequelize(f.url, { ...known, appName: f.appName('bare'), plugin: false });
    // Every login attempt, the scout's included, runs Sequelize's beforeConnect.
    let logins = 0;
    sequelize.addHook('beforeConnect', () => {
      logins++;
    });
    let proxy: FaultProxy | undefined;
    try {
      const finished: number[] = [];
      const reads = Array.from({ length: 3 }, () =>
        outcome(sequelize.query('SELECT 1 AS n', { type: QueryTypes.SELECT }).finally(() => finished.push(Date.now()))),
      );
      await until('the reads to be backing off', () => getReconnectStats(sequelize).retries >= 9, 20_000);
      // A window of one second: logging in every interval would make ~60 attempts in it.
      const before = logins;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const inWindow = logins - before;
      assert.ok(inWindow < 20, `${inWindow} login attempts in one second while the port refused`);

      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      const server = new URL(adminUrl());
      proxy = await FaultProxy.start({ port, target: { host: server.hostname, port: Number(server.port) } });
      const openedAt = Date.now();
      const [results, reference] = await Promise.all([Promise.all(reads), freshConnection(bare)]);
      lag.disable();
      for (const r of results) assert.ok(r.ok, !r.ok ? r.error.message : '');
      const last = Math.max(...finished) - openedAt;
      // A knock (every few ms), the scout's login, then the other reads on it or their own
      // connections: about two fresh connections. Without knocks, one interval more.
      const boundMs = 2 * reference + KNOCK_INTERVAL_MS + 50 + Math.round(lag.max / 1e6);
      console.log(
        `# ${inWindow} logins in the window; last read ${last} ms after the port opened; a fresh connection then took ${reference} ms`,
      );
      assert.ok(last < boundMs, `the last read finished ${last} ms after the port opened (bound ${boundMs} ms)`);
      await assertPoolIntact(sequelize);
    } finally {
      await Promise.all([sequelize.close(), bare.close()]);
      await proxy?.close();
    }
  });
});

/** A port of this machine where nothing listens now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
