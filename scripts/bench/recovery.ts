/**
 * 2. Recovery cost: how long a query takes when its connection has just died, against the
 * physical floor — a query on a freshly opened connection (TCP connect + PostgreSQL startup
 * and authentication + the query), made with pg directly.
 *
 * Everything goes through a fault proxy (no delay), the floor included, so the proxy's hop is
 * in every number; each client has a proxy of its own, so a fault for one never touches another. The kinds of measurement are interleaved, in a shuffled order each
 * iteration, so they see the same machine.
 */
import { Client } from 'pg';
import { QueryTypes, type Sequelize } from 'sequelize';
import { getReconnectStats } from '../../src';
import { poolState, testSequelize, uniqueAppName, withHostPort } from '../../test/support/db';
import { FaultProxy } from '../../test/support/fault-proxy';
import { fixture } from '../../test/support/fixture';
import { median, quantile, seededRandom } from '../lib/stats';
import type { SectionSettings } from './types';
import { sleep } from './workers';

export type RecoveryKind =
  /** pg alone: new Client, connect, SELECT 1. */
  | 'floor'
  /** Bare Sequelize with an empty pool: what it pays to open a connection for a query. */
  | 'sequelize-cold'
  /** Bare Sequelize on a connection the proxy forgot: how long until it fails. */
  | 'bare-failure'
  /** The plugin, its pooled connection forgotten by the proxy: RST on send, reconnect, retry. */
  | 'plugin-forgotten'
  /** The plugin, its connection cut just after the query was sent. */
  | 'plugin-cut'
  /**
   * The same two, with Sequelize told to skip its per-connection SET statements (time zone and
   * client_min_messages left to the server): what Sequelize's own connection setup costs.
   */
  | 'sequelize-cold-no-sets'
  | 'plugin-forgotten-no-sets';

export interface RecoveryResult {
  samples: number;
  /** Median and 90th percentile latency per kind, ms. */
  medianMs: Record<RecoveryKind, number>;
  p90Ms: Record<RecoveryKind, number>;
  /** Median plugin recovery / median floor, per fault. */
  ratioForgotten: number;
  ratioCut: number;
}

const KINDS: readonly RecoveryKind[] = [
  'floor',
  'sequelize-cold',
  'bare-failure',
  'plugin-forgotten',
  'plugin-cut',
  'sequelize-cold-no-sets',
  'plugin-forgotten-no-sets',
];

/** Sequelize sends no SET after connecting: the server's time zone and client_min_messages stand. */
const NO_SETS = { keepDefaultTimezone: true, dialectOptions: { clientMinMessages: 'ignore' } };

export async function recovery(settings: SectionSettings): Promise<RecoveryResult> {
  const samples = settings.mode === 'quick' ? 30 : 200;
  const f = await fixture();
  const server = new URL(f.url);
  const proxies = await Promise.all(
    [0, 1, 2, 3].map(() => FaultProxy.start({ target: { host: server.hostname, port: Number(server.port) } })),
  );
  const [bareProxy, pluginProxy, bareNoSetsProxy, pluginNoSetsProxy] = proxies as [FaultProxy, FaultProxy, FaultProxy, FaultProxy];
  const url = new URL(f.proxiedUrl);
  const pgConfig = {
    host: url.hostname,
    port: Number(url.port),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: url.pathname.slice(1),
  };
  const oneConnection = { max: 1, min: 0 };
  const via = (proxy: FaultProxy): string => withHostPort(f.url, proxy.host, proxy.port);
  const bare = testSequelize(via(bareProxy), { appName: uniqueAppName('rec_bare'), plugin: false, pool: oneConnection });
  const plugin = testSequelize(via(pluginProxy), { appName: uniqueAppName('rec_plugin'), pool: oneConnection });
  const noSets = (appName: string): { appName: string; keepDefaultTimezone: boolean; dialectOptions: object } => ({
    ...NO_SETS,
    appName,
    dialectOptions: { ...NO_SETS.dialectOptions, application_name: appName },
  });
  const bareNoSets = testSequelize(via(bareNoSetsProxy), { ...noSets(uniqueAppName('rec_bare_ns')), plugin: false, pool: oneConnection });
  const pluginNoSets = testSequelize(via(pluginNoSetsProxy), { ...noSets(uniqueAppName('rec_plugin_ns')), pool: oneConnection });
  const select = (s: Sequelize, sql = 'SELECT 1'): Promise<unknown> => s.query(sql, { type: QueryTypes.SELECT });

  /** Waits until the pool has let go of every connection (after the proxy cut them). */
  const drained = async (s: Sequelize): Promise<void> => {
    for (let i = 0; i < 500 && poolState(s).size > 0; i++) await sleep(1);
  };

  /** A query that has to open a connection: the pool's was cut and the pool has let it go. */
  const cold = async (s: Sequelize, proxy: FaultProxy): Promise<number> => {
    await select(s);
    proxy.cutAll();
    await drained(s);
    const t0 = performance.now();
    await select(s);
    return performance.now() - t0;
  };
  /** A read on a pooled connection the proxy forgot: RST on send, the plugin reconnects and retries. */
  const forgotten = async (s: Sequelize, proxy: FaultProxy): Promise<number> => {
    await select(s);
    const before = getReconnectStats(s).retriesSucceeded;
    proxy.forgetAll();
    const t0 = performance.now();
    await select(s).catch((error: unknown) =>
      settings.fail(`recovery: the plugin failed a read on a forgotten connection: ${String(error)}`),
    );
    const elapsed = performance.now() - t0;
    if (getReconnectStats(s).retriesSucceeded !== before + 1)
      settings.fail('recovery: the read on a forgotten connection was not recovered by exactly one retry');
    return elapsed;
  };

  const measure: Record<RecoveryKind, () => Promise<number>> = {
    floor: async () => {
      const client = new Client(pgConfig);
      client.on('error', () => {});
      const t0 = performance.now();
      await client.connect();
      await client.query('SELECT 1');
      const elapsed = performance.now() - t0;
      await client.end();
      return elapsed;
    },
    'sequelize-cold': () => cold(bare, bareProxy),
    'sequelize-cold-no-sets': () => cold(bareNoSets, bareNoSetsProxy),
    'bare-failure': async () => {
      await select(bare);
      bareProxy.forgetAll();
      const t0 = performance.now();
      const failed = await select(bare).then(
        () => false,
        () => true,
      );
      const elapsed = performance.now() - t0;
      if (!failed) settings.fail('recovery: bare Sequelize did not fail on a forgotten connection: the fault was not applied');
      await drained(bare);
      return elapsed;
    },
    'plugin-forgotten': () => forgotten(plugin, pluginProxy),
    'plugin-forgotten-no-sets': () => forgotten(pluginNoSets, pluginNoSetsProxy),
    'plugin-cut': async () => {
      await select(plugin);
      const before = getReconnectStats(plugin).retriesSucceeded;
      pluginProxy.arm('SELECT 2', 'cut-after-send');
      const t0 = performance.now();
      await select(plugin, 'SELECT 2').catch((error: unknown) =>
        settings.fail(`recovery: the plugin failed a read whose connection was cut: ${String(error)}`),
      );
      const elapsed = performance.now() - t0;
      if (getReconnectStats(plugin).retriesSucceeded !== before + 1)
        settings.fail('recovery: the read on a cut connection was not recovered by exactly one retry');
      return elapsed;
    },
  };

  const times = Object.fromEntries(KINDS.map((k) => [k, [] as number[]])) as Record<RecoveryKind, number[]>;
  const random = seededRandom(7);
  try {
    // Warm-up: JIT, and Sequelize's one-off type lookups on its first connection.
    for (let i = 0; i < 10; i++) for (const kind of KINDS) await measure[kind]();
    for (let i = 0; i < samples; i++) {
      if (i % 20 === 0) settings.progress(`recovery: ${i}/${samples}`);
      const order = [...KINDS].sort(() => random() - 0.5);
      for (const kind of order) times[kind].push(await measure[kind]());
    }
  } finally {
    await f.close(bare, plugin, bareNoSets, pluginNoSets);
    await Promise.all(proxies.map((p) => p.close()));
  }
  const medianMs = Object.fromEntries(KINDS.map((k) => [k, median(times[k])])) as Record<RecoveryKind, number>;
  const p90Ms = Object.fromEntries(KINDS.map((k) => [k, quantile(times[k], 0.9)])) as Record<RecoveryKind, number>;
  return {
    samples,
    medianMs,
    p90Ms,
    ratioForgotten: medianMs['plugin-forgotten'] / medianMs.floor,
    ratioCut: medianMs['plugin-cut'] / medianMs.floor,
  };
}
