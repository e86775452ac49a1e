/**
 * 4. Reconnect storm: a pool of 20, kept busy by 40 workers, and every one of its backends
 * terminated at once (pg_terminate_backend). Measured: failed operations, how long until every
 * operation that was hit has completed and the pool holds 20 connections again, and the peak
 * number of connection attempts in flight at once (which the pool must bound to its size).
 *
 * Connection attempts are counted by wrapping the instance's `_connect` (what the pool's
 * factory calls): unlike the beforeConnect/afterConnect hooks, that also sees attempts that fail.
 */
import { QueryTypes, type Sequelize } from 'sequelize';
import type { AutoReconnectOptions } from '../../src';
import { terminateBackends, testSequelize, uniqueAppName } from '../../test/support/db';
import { fixture } from '../../test/support/fixture';
import { median } from '../lib/stats';
import { rotatedRounds, type SectionSettings } from './types';
import { sleep } from './workers';

export const POOL = 20;
const WORKERS = 40;

export interface StormVariant {
  name: string;
  plugin: AutoReconnectOptions | false;
}

export const STORM_VARIANTS: readonly StormVariant[] = [
  { name: 'bare Sequelize', plugin: false },
  { name: 'plugin (defaults)', plugin: {} },
];

export interface StormRound {
  killed: number;
  /** Operations that failed after the kill. */
  failed: number;
  operationsAfterKill: number;
  /** Operations in flight at the kill: how long until the last of them completed. */
  hit: number;
  hitDoneMs: number;
  /** Time until the pool had opened `killed` new connections. */
  refilledMs: number;
  peakConnecting: number;
}

export interface StormVariantResult extends StormVariant {
  rounds: StormRound[];
  failed: number;
  /** Medians over the rounds. */
  hitDoneMs: number;
  refilledMs: number;
  /** Full recovery: both of the above. */
  recoveredMs: number;
  peakConnecting: number;
}

export interface StormResult {
  pool: number;
  workers: number;
  variants: StormVariantResult[];
}

export async function storm(settings: SectionSettings): Promise<StormResult> {
  const rounds = settings.mode === 'quick' ? 1 : 5;
  const f = await fixture();
  const results = STORM_VARIANTS.map((v) => ({ ...v, rounds: [] as StormRound[] }));
  try {
    await rotatedRounds(settings, 'storm', rounds, results, (variant) => stormRound(settings, f.url, variant));
  } finally {
    await f.close();
  }
  return {
    pool: POOL,
    workers: WORKERS,
    variants: results.map((v) => ({
      ...v,
      failed: v.rounds.reduce((a, r) => a + r.failed, 0),
      hitDoneMs: median(v.rounds.map((r) => r.hitDoneMs)),
      refilledMs: median(v.rounds.map((r) => r.refilledMs)),
      recoveredMs: median(v.rounds.map((r) => Math.max(r.hitDoneMs, r.refilledMs))),
      peakConnecting: Math.max(...v.rounds.map((r) => r.peakConnecting)),
    })),
  };
}

interface Op {
  start: number;
  end: number;
  ok: boolean;
}

async function stormRound(settings: SectionSettings, url: string, variant: StormVariant): Promise<StormRound> {
  const appName = uniqueAppName('storm');
  const sequelize = testSequelize(url, { appName, plugin: variant.plugin, pool: { max: POOL, min: 0, acquire: 30_000 } });
  const connects = instrumentConnects(sequelize);
  const ops: Op[] = [];
  let running = true;
  const workers = Array.from({ length: WORKERS }, async (_, w) => {
    for (let n = 0; running; n++) {
      const op: Op = { start: performance.now(), end: 0, ok: false };
      try {
        // Long enough that the pool's connections are busy when the kill lands.
        await sequelize.query(`SELECT pg_sleep(0.005), ${w * 100_000 + n} AS n`, { type: QueryTypes.SELECT });
        op.ok = true;
      } catch {
        op.ok = false;
      }
      op.end = performance.now();
      ops.push(op);
    }
  });
  try {
    await sleep(700);
    connects.peak = 0;
    const opened = connects.opened.length;
    const kill = performance.now();
    const killed = await terminateBackends(settings.serverUrl, appName);
    await sleep(1500);
    running = false;
    await Promise.all(workers);

    const hit = ops.filter((o) => o.start < kill && o.end >= kill);
    const after = ops.filter((o) => o.end >= kill);
    const reopened = connects.opened.slice(opened);
    const round: StormRound = {
      killed,
      failed: after.filter((o) => !o.ok).length,
      operationsAfterKill: after.length,
      hit: hit.length,
      hitDoneMs: hit.length === 0 ? 0 : Math.max(...hit.map((o) => o.end)) - kill,
      refilledMs: reopened.length >= killed ? reopened[killed - 1]! - kill : Number.NaN,
      peakConnecting: connects.peak,
    };
    if (round.peakConnecting > POOL)
      settings.fail(`storm (${variant.name}): ${round.peakConnecting} connection attempts at once, more than the pool's ${POOL}`);
    if (variant.plugin !== false && round.failed > 0) settings.fail(`storm (${variant.name}): ${round.failed} reads failed`);
    return round;
  } finally {
    running = false;
    await Promise.all(workers);
    await sequelize.close().catch(() => {});
  }
}

/** Counts connection attempts in flight and records when each new connection opened. */
function instrumentConnects(sequelize: Sequelize): { peak: number; opened: number[] } {
  const cm = (sequelize as unknown as { connectionManager: { _connect(config: unknown): Promise<unknown> } }).connectionManager;
  const connect = cm._connect.bind(cm);
  const stats = { peak: 0, opened: [] as number[] };
  let inFlight = 0;
  cm._connect = async (config: unknown) => {
    inFlight++;
    stats.peak = Math.max(stats.peak, inFlight);
    try {
      const connection = await connect(config);
      stats.opened.push(performance.now());
      return connection;
    } finally {
      inFlight--;
    }
  };
  return stats;
}
