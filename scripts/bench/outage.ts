/**
 * 3. Outage ride-through: PostgreSQL stopped (fast shutdown) and started again one second
 * later, under 16 concurrent workers reading through models. Measured: the share of
 * operations that succeed, and how long after the server accepts connections again (its
 * "ready to accept connections" log line) the operations that were waiting complete.
 *
 * Bare Sequelize is the reference; the plugin runs with its default backoff (100 ms doubling
 * to 2 s, full jitter) and with a short one (25 ms to 250 ms). A worker whose operation failed
 * waits 20 ms before the next, as a caller would, so bare Sequelize does not spin.
 */
import pg from 'pg';
import type { AutoReconnectOptions } from '../../src';
import { testSequelize, uniqueAppName } from '../../test/support/db';
import { defineItem, fixture } from '../../test/support/fixture';
import { median } from '../lib/stats';
import { timelineOf, type Timeline, type TimedOp } from './timeline';
import { rotatedRounds, type SectionSettings } from './types';
import { sleep } from './workers';

export interface OutageVariant {
  name: string;
  plugin: AutoReconnectOptions | false;
}

export const OUTAGE_VARIANTS: readonly OutageVariant[] = [
  { name: 'bare Sequelize', plugin: false },
  { name: 'plugin, default backoff', plugin: { retries: 10 } },
  { name: 'plugin, backoff 25-250 ms', plugin: { retries: 40, backoff: { baseMs: 25, maxMs: 250 } } },
];

export interface OutageRound {
  operations: number;
  failed: number;
  /** Server stopped → server ready again, ms (stop + 1 s + start-up). */
  unavailableMs: number;
  /** Operations waiting when the server came back: how long after that the last one completed. */
  waitingAtReady: number;
  lastWaitingDoneMs: number;
  /** First operation to succeed after the server came back. */
  firstSuccessMs: number;
  /** Each worker's reads over the round (the report draws the first round's). */
  timeline: Timeline;
}

export interface OutageVariantResult {
  name: string;
  plugin: AutoReconnectOptions | false;
  rounds: OutageRound[];
  successRate: number;
  /** Medians over the rounds. */
  lastWaitingDoneMs: number;
  firstSuccessMs: number;
}

export interface OutageResult {
  workers: number;
  stoppedForMs: number;
  variants: OutageVariantResult[];
  /** The floor: a bare pg client trying every millisecond, its first read done after the server is back (median, ms). */
  floorMs: number;
  floorRounds: number[];
}

const WORKERS = 16;
const STOPPED_FOR_MS = 1000;

export async function outage(settings: SectionSettings): Promise<OutageResult> {
  const rounds = settings.mode === 'quick' ? 1 : 3;
  const f = await fixture();
  const results = OUTAGE_VARIANTS.map((v) => ({ ...v, rounds: [] as OutageRound[] }));
  const floorRounds: number[] = [];
  try {
    const seeder = testSequelize(f.url, { appName: uniqueAppName('seed'), plugin: false });
    await defineItem(seeder).bulkCreate(Array.from({ length: 100 }, (_, i) => ({ tag: `row-${i}` })));
    await seeder.close();
    await rotatedRounds(settings, 'outage', rounds, results, (variant) => outageRound(settings, f.url, variant));
    for (let r = 0; r < rounds; r++) {
      settings.progress(`outage: floor, round ${r + 1}/${rounds}`);
      floorRounds.push(await floorRound(settings, f.url));
    }
  } finally {
    await f.close();
  }
  return {
    workers: WORKERS,
    stoppedForMs: STOPPED_FOR_MS,
    floorMs: median(floorRounds),
    floorRounds,
    variants: results.map((v) => {
      const operations = v.rounds.reduce((a, r) => a + r.operations, 0);
      const failed = v.rounds.reduce((a, r) => a + r.failed, 0);
      return {
        name: v.name,
        plugin: v.plugin,
        rounds: v.rounds,
        successRate: operations === 0 ? 0 : (operations - failed) / operations,
        lastWaitingDoneMs: median(v.rounds.map((r) => r.lastWaitingDoneMs)),
        firstSuccessMs: median(v.rounds.map((r) => r.firstSuccessMs)),
      };
    }),
  };
}

async function outageRound(settings: SectionSettings, url: string, variant: OutageVariant): Promise<OutageRound> {
  const sequelize = testSequelize(url, {
    appName: uniqueAppName('outage'),
    plugin: variant.plugin,
    pool: { max: WORKERS, min: 0, acquire: 30_000 },
  });
  const Item = defineItem(sequelize);
  const ops: Array<TimedOp & { end: number }> = [];
  let running = true;
  const t0 = performance.now();
  const workers = Array.from({ length: WORKERS }, async (_, w) => {
    for (let n = 0; running; n++) {
      const op = { worker: w, start: performance.now(), end: 0, ok: false };
      try {
        await Item.findOne({ where: { id: 1 + ((w * 31 + n) % 100) } });
        op.ok = true;
      } catch {
        op.ok = false;
      }
      op.end = performance.now();
      ops.push(op);
      if (!op.ok) await sleep(20);
    }
  });
  try {
    await sleep(500);
    const stopping = performance.now();
    await settings.server.stop();
    await sleep(STOPPED_FOR_MS);
    await settings.server.start();
    const ready = performance.now();
    await sleep(settings.mode === 'quick' ? 1000 : 1500);
    running = false;
    await Promise.all(workers);
    const endAt = performance.now();

    const during = ops.filter((o) => o.end >= stopping);
    const waiting = ops.filter((o) => o.start < ready && o.end >= ready);
    const firstSuccess = Math.min(...ops.filter((o) => o.ok && o.end >= ready).map((o) => o.end));
    const round: OutageRound = {
      operations: during.length,
      failed: during.filter((o) => !o.ok).length,
      unavailableMs: ready - stopping,
      waitingAtReady: waiting.length,
      lastWaitingDoneMs: waiting.length === 0 ? 0 : Math.max(...waiting.map((o) => o.end)) - ready,
      firstSuccessMs: firstSuccess - ready,
      timeline: timelineOf(
        variant.name,
        WORKERS,
        ops,
        t0,
        endAt,
        { fromMs: stopping - t0, toMs: ready - t0, label: 'server stopped, then starting' },
        // With the plugin, a read that succeeded although the server was down while it ran was retried.
        { plugin: variant.plugin !== false, mergeMs: 2, retried: (op) => op.start < ready && op.end > stopping },
      ),
    };
    if (variant.plugin !== false && round.failed > 0) {
      settings.fail(`outage (${variant.name}): ${round.failed} of ${round.operations} reads failed`);
    }
    return round;
  } finally {
    running = false;
    await Promise.all(workers);
    await sequelize.close().catch(() => {});
  }
}

/**
 * The floor of "back at once": how soon after the ready line a client can be served at all.
 * A bare pg client tries every millisecond from the stop on (a new connection each time, one at
 * a time, no worker running meanwhile); measured, its first read done after the server is back.
 * A just-started server's first login is the slow part.
 */
async function floorRound(settings: SectionSettings, url: string): Promise<number> {
  await settings.server.stop();
  const giveUpAt = performance.now() + STOPPED_FOR_MS + 10_000;
  const firstRead = (async () => {
    while (performance.now() < giveUpAt) {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.query('SELECT id FROM items WHERE id = 1');
        return performance.now();
      } catch {
        // Not back yet.
      } finally {
        await client.end().catch(() => {});
      }
      await sleep(1);
    }
    return NaN;
  })();
  await sleep(STOPPED_FOR_MS / 4);
  await settings.server.start();
  const ready = performance.now();
  return (await firstRead) - ready;
}
