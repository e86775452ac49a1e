/**
 * The chaos workload: each worker draws operations from its own seeded stream and records what
 * each one did and what its caller was told, for the invariants and the audit of rows.
 */
import { QueryTypes, type Sequelize } from 'sequelize';
import { rng, streamSeed } from '../random';
import { sleep } from '../workload';
import type { ItemModel } from '../fixture';
import type { InstancePlan, OpKind, Plan } from './plan';

export interface OpRecord {
  readonly instance: string;
  readonly kind: OpKind;
  /** Rows this operation writes to `items`, each tag unique to it. */
  readonly tags: readonly string[];
  /** The worker's key in `kv` (reads and upserts) and, for an upsert, the value written. */
  readonly key: string | undefined;
  readonly value: number | undefined;
  /** performance.now() at the call and when it settled. */
  readonly startedAt: number;
  endedAt: number | undefined;
  ok: boolean | undefined;
  error: unknown;
  /** Its instance's close() had begun when the operation started / settled. */
  startedAfterClose: boolean;
  settledAfterClose: boolean;
}

export interface Instance {
  readonly plan: InstancePlan;
  readonly sequelize: Sequelize;
  readonly Item: ItemModel;
  readonly appName: string;
  /** Set when close() is called on it; its workers then stop. */
  closing: boolean;
  readonly ops: OpRecord[];
}

const UPSERT = 'INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v';
/** Hard limit of one worker's operations, whatever the clock says. */
const MAX_OPS_PER_WORKER = 20_000;

/**
 * Starts every instance's workers; they stop when `running()` turns false or their instance
 * closes, and the returned promise settles when the last one has stopped.
 */
export function startWorkload(plan: Plan, instances: readonly Instance[], running: () => boolean): Promise<void> {
  const workers = instances.flatMap((instance, i) =>
    Array.from({ length: instance.plan.workers }, (_, w) => worker(plan, instance, w, streamSeed(plan.seed, 100 + i * 100 + w), running)),
  );
  return Promise.all(workers).then(() => {});
}

async function worker(plan: Plan, instance: Instance, w: number, seed: number, running: () => boolean): Promise<void> {
  const r = rng(seed);
  const prefix = `${instance.plan.name}-w${w}`;
  for (let n = 0; n < MAX_OPS_PER_WORKER && running() && !instance.closing; n++) {
    const kind = r.weighted(plan.mix);
    const tags = kind === 'insert' ? [`${prefix}-${n}`] : kind === 'transaction' ? [`${prefix}-${n}a`, `${prefix}-${n}b`] : [];
    const record: OpRecord = {
      instance: instance.plan.name,
      kind,
      tags,
      key: kind === 'upsert' || kind === 'read' ? prefix : undefined,
      value: kind === 'upsert' ? n : undefined,
      startedAt: performance.now(),
      endedAt: undefined,
      ok: undefined,
      error: undefined,
      startedAfterClose: instance.closing,
      settledAfterClose: false,
    };
    instance.ops.push(record);
    try {
      await operation(instance, record, r.int(10, 40));
      record.ok = true;
    } catch (error) {
      record.ok = false;
      record.error = error;
    } finally {
      record.endedAt = performance.now();
      record.settledAfterClose = instance.closing;
    }
    await sleep(r.int(...plan.pauseMs));
  }
}

function operation(instance: Instance, op: OpRecord, sleepMs: number): Promise<unknown> {
  const { sequelize, Item } = instance;
  switch (op.kind) {
    case 'read':
      return sequelize.query('SELECT v FROM kv WHERE k = $1', { bind: [op.key ?? 'none'], type: QueryTypes.SELECT });
    case 'slow-read':
      // Long enough for a fault to land while it runs.
      return sequelize.query('SELECT pg_sleep($1), 1 AS n', { bind: [sleepMs / 1000], type: QueryTypes.SELECT });
    case 'insert':
      return Item.create({ tag: op.tags[0]! });
    case 'upsert':
      return sequelize.query(UPSERT, { bind: [op.key, op.value], reconnect: { idempotent: true } } as object);
    case 'transaction':
      return sequelize.transaction(async (transaction) => {
        await Item.create({ tag: op.tags[0]! }, { transaction });
        await sequelize.query('SELECT pg_sleep($1)', { bind: [sleepMs / 4000], type: QueryTypes.SELECT, transaction });
        await Item.create({ tag: op.tags[1]! }, { transaction });
      });
    case 'bad-statement':
      // A statement error, not a lost connection: it must reach the caller unchanged.
      return sequelize.query('SELECT 1 / (SELECT count(*) FROM kv WHERE false) AS n', { type: QueryTypes.SELECT });
  }
}
