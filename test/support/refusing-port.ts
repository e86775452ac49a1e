/**
 * A server's port while the server is stopped: nothing listens, every connection is refused
 * (ECONNREFUSED, not a reset). `open()` starts a fault proxy there to the real server, as the
 * server's own start would.
 */
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { QueryTypes, type Sequelize } from 'sequelize';
import { getReconnectStats } from '../../src';
import { KNOCK_INTERVAL_MS } from '../../src/engine/scout';
import { FaultProxy } from './fault-proxy';
import { outcome } from './fixture';
import { freePort } from './postgres';
import { until } from './workload';

export interface RefusingPort {
  readonly port: number;
  /** Starts listening there, forwarding to the server. */
  open(): Promise<void>;
  close(): Promise<void>;
}

export async function refusingPort(target: { host: string; port: number }): Promise<RefusingPort> {
  const port = await freePort();
  let proxy: FaultProxy | undefined;
  return {
    port,
    open: async () => {
      proxy = await FaultProxy.start({ port, target });
    },
    close: async () => {
      await proxy?.close();
    },
  };
}

/**
 * Three reads on `sequelize` (pointed at `refusing`, with a 500-2000 ms backoff) back off while
 * nothing listens: the plugin only knocks, logging in a few times a second at most (every 15 ms
 * it would be ~60); once the port opens they complete within about two fresh connections
 * (`reference` measures one, made at that moment).
 */
export async function assertKnocksThenBackAtOnce(sequelize: Sequelize, refusing: RefusingPort, reference: () => Promise<number>) {
  // Every login attempt, the scout's included, runs Sequelize's beforeConnect.
  let logins = 0;
  sequelize.addHook('beforeConnect', () => {
    logins++;
  });
  const finished: number[] = [];
  const reads = Array.from({ length: 3 }, () =>
    outcome(sequelize.query('SELECT 1 AS n', { type: QueryTypes.SELECT }).finally(() => finished.push(Date.now()))),
  );
  await until('the reads to be backing off', () => getReconnectStats(sequelize).retries >= 9, 20_000);
  // A window of time is what a rate needs.
  const before = logins;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const inWindow = logins - before;
  assert.ok(inWindow < 30, `${inWindow} login attempts in one second while the port refused`);

  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  await refusing.open();
  const openedAt = Date.now();
  const [results, referenceMs] = await Promise.all([Promise.all(reads), reference()]);
  lag.disable();
  for (const r of results) assert.ok(r.ok, !r.ok ? r.error.message : '');
  const last = Math.max(...finished) - openedAt;
  // A knock (every few ms), the scout's login, then the other reads on it or on their own
  // connections: about two fresh connections.
  const boundMs = 2 * referenceMs + KNOCK_INTERVAL_MS + 50 + Math.round(lag.max / 1e6);
  console.log(`# ${inWindow} logins in the window; last read ${last} ms after the port opened; a fresh connection took ${referenceMs} ms`);
  assert.ok(last < boundMs, `the last read finished ${last} ms after the port opened (bound ${boundMs} ms)`);
}
