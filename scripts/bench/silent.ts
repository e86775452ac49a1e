/**
 * 6. Silent death: workers reading through the fault proxy when, at time T, the proxy goes silent
 * both ways on every open connection (nothing forwarded, nothing closed: a black-holed path, as
 * after a failover or a partition of established flows); new connections still pass to the
 * healthy server. Per operation in flight at T: time from the silence to the watchdog's cut
 * (the plugin's debug line "… its connection is destroyed", captured in-process, timestamped as
 * it is written) and to the read's recovered result. Bare Sequelize hangs: counted as stuck at
 * the round's bound. A dialect without a watchdog (`dialect.silence` undefined) is reported as
 * "no detection (hangs)" the same way, not as an error.
 */
import { QueryTypes, type Sequelize } from 'sequelize';
import type { AutoReconnectOptions } from '../../src';
import { dialectFor } from '../../src/dialects';
import { debug as pluginDebug } from '../../src/host/internals';
import { findBinary } from '../../test/support/binaries';
import { testSequelize, uniqueAppName } from '../../test/support/db';
import type { FaultProxy } from '../../test/support/fault-proxy';
import { fixture } from '../../test/support/fixture';
import { MariaDbServer } from '../../test/support/mariadb';
import { myFixture } from '../../test/support/mysql';
import { quantile } from '../lib/stats';
import { timelineOf, type Timeline, type TimedOp } from './timeline';
import type { SectionSettings } from './types';
import { sleep } from './workers';

export const SILENCE_MS = 2000;
const WORKERS = 8;

export type SilentDialect = 'postgres' | 'mysql' | 'mariadb';

export interface SilentVariantResult {
  dialect: SilentDialect;
  name: string;
  plugin: boolean;
  /** The dialect has a watchdog (`dialect.silence`); without one the plugin hangs like bare Sequelize. */
  watchdog: boolean;
  rounds: number;
  /** Operations in flight when the proxy went silent, over all rounds. */
  caught: number;
  /** Watchdog cuts after the silence, ms from it. */
  detectionMs: number[];
  /** Caught operations that returned their rows, ms from the silence. */
  recoveredMs: number[];
  /** Caught operations rejected before the bound. */
  failed: number;
  /** Caught operations still pending at the bound. */
  stuck: number;
}

export interface SilentResult {
  workers: number;
  silenceMs: number;
  boundMs: number;
  variants: SilentVariantResult[];
  /** Dialects not run, and why (no MariaDB installed). */
  skipped: string[];
  /** The first round of bare Sequelize and of the plugin on PostgreSQL. */
  timelines: Timeline[];
}

interface Target {
  dialect: SilentDialect;
  proxy: FaultProxy;
  /** Holds the statement on the server ~200 ms, so that it is running there when the path dies. */
  readSql: string;
  open(plugin: AutoReconnectOptions | false): Promise<Sequelize>;
  close(): Promise<void>;
}

export async function silentDeath(settings: SectionSettings): Promise<SilentResult> {
  const quick = settings.mode === 'quick';
  const rounds = quick ? 1 : 3;
  const boundMs = quick ? 7000 : 10_000;
  const result: SilentResult = { workers: WORKERS, silenceMs: SILENCE_MS, boundMs, variants: [], skipped: [], timelines: [] };
  let mariadb: MariaDbServer | undefined;
  try {
    for (const dialect of ['postgres', 'mysql', 'mariadb'] as const) {
      if (dialect !== 'postgres' && !mariadb) {
        if (!findBinary('mariadbd') || !findBinary('mariadb-install-db')) {
          result.skipped.push(`${dialect}: mariadb-server is not installed`);
          continue;
        }
        settings.progress('silent death: starting MariaDB…');
        mariadb = await MariaDbServer.start();
      }
      const target = await openTarget(dialect, mariadb?.url);
      try {
        const watchdog = dialectFor(dialect).silence !== undefined;
        for (const plugin of [false, true]) {
          const variant: SilentVariantResult = {
            dialect,
            name: plugin ? `plugin, silenceMs ${SILENCE_MS}` : 'bare Sequelize',
            plugin,
            watchdog,
            rounds,
            caught: 0,
            detectionMs: [],
            recoveredMs: [],
            failed: 0,
            stuck: 0,
          };
          for (let r = 0; r < rounds; r++) {
            settings.progress(`silent death: ${dialect}, ${variant.name}, round ${r + 1}/${rounds}`);
            const timeline = await silentRound(target, variant, boundMs);
            if (r === 0 && dialect === 'postgres') result.timelines.push(timeline);
          }
          if (plugin && watchdog && (variant.stuck > 0 || variant.failed > 0)) {
            settings.fail(`silent death (${dialect}, ${variant.name}): ${variant.stuck} reads stuck, ${variant.failed} failed`);
          }
          result.variants.push(variant);
        }
      } finally {
        await target.close();
      }
    }
  } finally {
    await mariadb?.destroy();
  }
  return result;
}

async function openTarget(dialect: SilentDialect, mariadbUrl: string | undefined): Promise<Target> {
  const pool = { max: WORKERS, min: 0, acquire: 20_000 };
  if (dialect === 'postgres') {
    const f = await fixture();
    const opened: Sequelize[] = [];
    return {
      dialect,
      proxy: f.proxy,
      readSql: 'SELECT pg_sleep(0.2) AS slept, 1 AS n',
      open: (plugin) => {
        const sequelize = testSequelize(f.proxiedUrl, { appName: uniqueAppName('silent'), plugin, pool });
        opened.push(sequelize);
        return Promise.resolve(sequelize);
      },
      close: () => f.close(...opened),
    };
  }
  const f = await myFixture(mariadbUrl);
  return {
    dialect,
    proxy: f.proxy,
    readSql: 'SELECT SLEEP(0.2) AS slept, 1 AS n',
    open: async (plugin) => (await f.app(dialect, { plugin, pool })).sequelize,
    close: () => f.close(),
  };
}

/** The watchdog's cuts, timestamped as written: the plugin's own debug logger, captured in-process. */
function captureCuts(): { times: number[]; stop(): void } {
  const times: number[] = [];
  if (!pluginDebug) return { times, stop: () => {} };
  const logger = pluginDebug as unknown as { enabled: boolean; log?: (...args: unknown[]) => void };
  const { enabled, log } = logger;
  logger.log = (...args: unknown[]) => {
    if (args.some((a) => typeof a === 'string' && a.includes('its connection is destroyed'))) times.push(performance.now());
  };
  logger.enabled = true;
  return {
    times,
    stop: () => {
      logger.enabled = enabled;
      logger.log = log;
    },
  };
}

async function silentRound(target: Target, variant: SilentVariantResult, boundMs: number): Promise<Timeline> {
  const sequelize = await target.open(variant.plugin ? { silenceMs: SILENCE_MS } : false);
  const ops: TimedOp[] = [];
  const cuts = captureCuts();
  let running = true;
  const t0 = performance.now();
  const workers = Array.from({ length: WORKERS }, async (_, worker) => {
    while (running) {
      const op: TimedOp = { worker, start: performance.now(), end: undefined, ok: false };
      ops.push(op);
      try {
        await sequelize.query(target.readSql, { type: QueryTypes.SELECT });
        op.ok = true;
      } catch {
        op.ok = false;
      }
      op.end = performance.now();
      if (!op.ok) await sleep(20);
    }
  });
  let mutedAt = 0;
  let endAt: number;
  try {
    // Past the first connects: every worker has a statement running on the server.
    await sleep(1000);
    target.proxy.muteAll();
    mutedAt = performance.now();
    const caught = ops.filter((o) => o.start < mutedAt && (o.end === undefined || o.end > mutedAt));
    const bound = mutedAt + boundMs;
    // The plugin's round ends a second after its caught reads settled; a hang waits out the bound.
    while (performance.now() < bound && caught.some((o) => o.end === undefined)) await sleep(50);
    if (performance.now() < bound) await sleep(Math.min(1000, bound - performance.now()));
    endAt = performance.now();
    variant.caught += caught.length;
    for (const op of caught) {
      if (op.end === undefined) variant.stuck++;
      else if (op.ok) variant.recoveredMs.push(op.end - mutedAt);
      else variant.failed++;
    }
    variant.detectionMs.push(...cuts.times.filter((t) => t >= mutedAt).map((t) => t - mutedAt));
  } finally {
    cuts.stop();
    running = false;
    // What still hangs on a muted flow fails once it is FIN-closed, as a kernel timeout would end it at last.
    target.proxy.closeStranded();
    await Promise.race([Promise.all(workers), sleep(10_000)]);
    await Promise.race([sequelize.close().catch(() => {}), sleep(10_000)]);
  }
  return timelineOf(
    variant.name,
    WORKERS,
    ops,
    t0,
    endAt,
    { fromMs: mutedAt - t0, toMs: endAt - t0, label: 'open connections silent both ways (new ones pass)' },
    // Retried: caught in flight, or later on a pooled connection that had gone silent while idle (slower than silenceMs).
    { plugin: variant.plugin, mergeMs: 0, retried: (op) => (op.start < mutedAt && op.end > mutedAt) || op.end - op.start >= SILENCE_MS },
  );
}

/** p50 / p95 / max, or '—' for none. */
export function spread(values: readonly number[], format: (ms: number) => string): string[] {
  if (values.length === 0) return ['—', '—', '—'];
  return [format(quantile(values, 0.5)), format(quantile(values, 0.95)), format(Math.max(...values))];
}
