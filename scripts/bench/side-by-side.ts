/**
 * 5. Side by side on the same faults: bare Sequelize, Sequelize's own
 * `retry: { max, match: [connection errors] }`, and the plugin.
 *
 * 8 workers, 60% reads and 40% INSERTs each with a unique tag, through the fault proxy, with a
 * fault every 150-400 ms from a seeded schedule that every variant replays: backends
 * terminated, every connection reset or cut, an INSERT whose reply is swallowed after it ran
 * or whose connection is cut after sending, a statement on a flow the proxy forgot (RST, never
 * forwarded). Afterwards rows are counted by tag: a write the caller was told succeeded must be
 * there once; a failed one may be there (it may have run) — unless the plugin said it certainly
 * did not run (`mayHaveExecuted: false`).
 */
import { ConnectionError, type Options } from 'sequelize';
import { ConnectionLostError, type AutoReconnectOptions } from '../../src';
import { admin, terminateBackends, testSequelize, uniqueAppName } from '../../test/support/db';
import { defineItem, fixture, type Fixture } from '../../test/support/fixture';
import { seededRandom } from '../lib/stats';
import type { SectionSettings } from './types';
import { sleep } from './workers';

/** What users configure today to survive lost connections with Sequelize alone. */
export const SEQUELIZE_RETRY: Options['retry'] = {
  max: 3,
  backoffBase: 10,
  match: [ConnectionError, /ECONNRESET/, /Connection terminated/, /not queryable/, /administrator command/],
};

export interface SideVariant {
  name: string;
  plugin: AutoReconnectOptions | false;
  retry?: Options['retry'];
}

export const SIDE_VARIANTS: readonly SideVariant[] = [
  { name: 'bare Sequelize', plugin: false },
  { name: 'Sequelize retry (max 3, connection errors)', plugin: false, retry: SEQUELIZE_RETRY },
  { name: 'plugin (retries: 3)', plugin: { retries: 3 } },
];

export type SideFault = 'terminate' | 'reset-all' | 'cut-all' | 'swallow-insert' | 'cut-insert' | 'forgotten-insert' | 'forgotten-select';

export interface SideVariantResult {
  name: string;
  reads: number;
  readsFailed: number;
  inserts: number;
  insertsFailed: number;
  /** Of the failed inserts, those whose row is in the table all the same. */
  failedButCommitted: number;
  /** Inserts whose row is there more than once. */
  duplicated: number;
  /** Inserts reported as succeeded whose row is missing. */
  lost: number;
  /** Plugin only: failures reported with mayHaveExecuted: false whose row is there. */
  wronglyNotExecuted: number;
  faults: number;
}

export interface SideBySideResult {
  seconds: number;
  rounds: number;
  workers: number;
  variants: SideVariantResult[];
}

const WORKERS = 8;
const FAULTS: readonly SideFault[] = [
  'terminate',
  'reset-all',
  'cut-all',
  'swallow-insert',
  'cut-insert',
  'forgotten-insert',
  'forgotten-select',
];

export async function sideBySide(settings: SectionSettings): Promise<SideBySideResult> {
  const quick = settings.mode === 'quick';
  const rounds = quick ? 1 : 2;
  const runMs = quick ? 2000 : 6000;
  const f = await fixture();
  const totals = SIDE_VARIANTS.map((v) => emptyResult(v.name));
  try {
    const seeder = testSequelize(f.url, { appName: uniqueAppName('seed'), plugin: false });
    await defineItem(seeder).bulkCreate(Array.from({ length: 100 }, (_, i) => ({ tag: `row-${i}` })));
    await seeder.close();
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < SIDE_VARIANTS.length; i++) {
        const index = (i + r) % SIDE_VARIANTS.length;
        const variant = SIDE_VARIANTS[index]!;
        settings.progress(`side by side: ${variant.name}, round ${r + 1}/${rounds}`);
        const result = await sideRound(settings, f, variant, `r${r}v${index}`, runMs, 1000 + r);
        const total = totals[index]!;
        for (const key of Object.keys(result) as Array<keyof SideVariantResult>) {
          if (key !== 'name') total[key] += result[key];
        }
      }
    }
  } finally {
    await f.close();
  }
  for (const [i, t] of totals.entries()) {
    const variant = SIDE_VARIANTS[i]!;
    if (t.lost > 0) settings.fail(`side by side (${t.name}): ${t.lost} inserts reported as succeeded are missing`);
    if (variant.plugin !== false) {
      if (t.duplicated > 0) settings.fail(`side by side (${t.name}): ${t.duplicated} inserts ran twice`);
      if (t.wronglyNotExecuted > 0)
        settings.fail(`side by side (${t.name}): ${t.wronglyNotExecuted} inserts reported mayHaveExecuted: false had run`);
      if (t.readsFailed > 0) settings.fail(`side by side (${t.name}): ${t.readsFailed} reads failed`);
    }
  }
  return { seconds: runMs / 1000, rounds, workers: WORKERS, variants: totals };
}

function emptyResult(name: string): SideVariantResult {
  return {
    name,
    reads: 0,
    readsFailed: 0,
    inserts: 0,
    insertsFailed: 0,
    failedButCommitted: 0,
    duplicated: 0,
    lost: 0,
    wronglyNotExecuted: 0,
    faults: 0,
  };
}

interface Insert {
  tag: string;
  ok: boolean;
  /** The plugin said the statement certainly did not run. */
  notExecuted: boolean;
}

async function sideRound(
  settings: SectionSettings,
  f: Fixture,
  variant: SideVariant,
  prefix: string,
  runMs: number,
  seed: number,
): Promise<SideVariantResult> {
  const appName = uniqueAppName('side');
  const sequelize = testSequelize(f.proxiedUrl, {
    appName,
    plugin: variant.plugin,
    pool: { max: 6, min: 0, acquire: 20_000 },
    ...(variant.retry ? { retry: variant.retry } : {}),
    // A connection attempt through a proxy that never answers must not stall a worker forever.
    dialectOptions: { application_name: appName, connectionTimeoutMillis: 5000 },
  });
  const Item = defineItem(sequelize);
  const result = emptyResult(variant.name);
  const inserts: Insert[] = [];
  let running = true;
  const workers = Array.from({ length: WORKERS }, async (_, w) => {
    const random = seededRandom(seed * 100 + w);
    for (let n = 0; running; n++) {
      if (random() < 0.6) {
        result.reads++;
        try {
          await Item.findOne({ where: { id: 1 + Math.floor(random() * 100) } });
        } catch {
          result.readsFailed++;
        }
      } else {
        const insert: Insert = { tag: `${prefix}-${w}-${n}`, ok: false, notExecuted: false };
        inserts.push(insert);
        try {
          await Item.create({ tag: insert.tag });
          insert.ok = true;
        } catch (error) {
          insert.notExecuted = error instanceof ConnectionLostError && !error.mayHaveExecuted;
        }
      }
      await sleep(1);
    }
  });

  const random = seededRandom(seed);
  const started = performance.now();
  try {
    for (let at = 150 + random() * 250; at < runMs - 300; at += 150 + random() * 250) {
      const wait = started + at - performance.now();
      if (wait > 0) await sleep(wait);
      const fault = FAULTS[Math.floor(random() * FAULTS.length)]!;
      await inject(fault, f, settings.serverUrl, appName);
      result.faults++;
    }
    const rest = started + runMs - performance.now();
    if (rest > 0) await sleep(rest);
  } finally {
    running = false;
    await Promise.all(workers);
    f.proxy.disarm();
    await sequelize.close().catch(() => {});
  }

  const counts = await admin(f.url, async (c) => {
    const { rows } = await c.query<{ tag: string; n: number }>('SELECT tag, count(*)::int AS n FROM items WHERE tag LIKE $1 GROUP BY tag', [
      `${prefix}-%`,
    ]);
    return new Map(rows.map((r) => [r.tag, r.n]));
  });
  for (const insert of inserts) {
    const n = counts.get(insert.tag) ?? 0;
    result.inserts++;
    if (!insert.ok) result.insertsFailed++;
    if (!insert.ok && n > 0) result.failedButCommitted++;
    if (n > 1) result.duplicated++;
    if (insert.ok && n === 0) result.lost++;
    if (insert.notExecuted && n > 0) result.wronglyNotExecuted++;
  }
  return result;
}

async function inject(fault: SideFault, f: Fixture, serverUrl: string, appName: string): Promise<void> {
  switch (fault) {
    case 'terminate':
      await terminateBackends(serverUrl, appName);
      return;
    case 'reset-all':
      f.proxy.resetAll();
      return;
    case 'cut-all':
      f.proxy.cutAll();
      return;
    case 'swallow-insert':
      f.proxy.arm('INSERT INTO "items"', 'swallow-reply');
      return;
    case 'cut-insert':
      f.proxy.arm('INSERT INTO "items"', 'cut-after-send');
      return;
    case 'forgotten-insert':
      f.proxy.arm('INSERT INTO "items"', 'reset');
      return;
    case 'forgotten-select':
      f.proxy.arm(/SELECT .* FROM "items"/, 'reset');
      return;
  }
}
