/**
 * One run of the orders service against the faulty infrastructure: workers with think time,
 * faults injected on schedule, every operation timed and its outcome recorded, then the rows
 * counted to find lost, duplicated and "failed but committed" writes.
 */
import type { Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats, type AutoReconnectOptions } from '../../src';
import { poolState } from '../../test/support/db';
import { Progress } from '../lib/progress';
import { onCleanup, onInterrupt, wasInterrupted } from '../lib/scratch';
import { seededRandom } from '../lib/stats';
import type { DemoDatabase } from './database';
import { shortMessage } from '../lib/table';
import { injectFault, type FaultKind, type Infrastructure, type ScheduledFault } from './infrastructure';
import { defineModels, ordersWorkload, type OpOutcome, type WriteRecord } from './orders';

export interface RunOptions {
  label: string;
  /** The run's own database. */
  database: DemoDatabase;
  infrastructure: Infrastructure;
  /** Plugin options, or false for bare Sequelize. */
  plugin: AutoReconnectOptions | false;
  durationMs: number;
  workers: number;
  poolMax: number;
  schedule: readonly ScheduledFault[];
  seed: number;
  /** `--events`: called with the run's instance before it starts; what it returns is called once the run is over. */
  watch?: (sequelize: Sequelize) => () => void;
}

export interface RunResult {
  label: string;
  operations: number;
  failedReads: number;
  failedWrites: number;
  /** Writes reported as failed whose rows are in the database all the same. */
  failedButCommitted: number;
  /** Writes reported as succeeded whose rows are missing: must never happen. */
  lostWrites: number;
  /** Failed writes the plugin reported as ConnectionLostError with mayHaveExecuted: true. */
  flaggedMayHaveExecuted: number;
  duplicatedWrites: number;
  /** Statements retried by the plugin; undefined for bare Sequelize. */
  retried: number | undefined;
  reconnects: number | undefined;
  /** Whole transactions the app re-ran because the plugin said nothing of them committed. */
  appTransactionRetries: number;
  /** Sequelize's console warnings that a COMMIT or ROLLBACK failed and it killed the connection. */
  transactionWarnings: number;
  connectionsOpened: number;
  latenciesMs: number[];
  errors: Map<string, number>;
  faultsApplied: FaultKind[];
  idleClosed: number | undefined;
  /** Operations still waiting long after the run ended (a reply that will never come), by name. */
  hung: string[];
}

/** How long after the end of a run an operation may still finish before it is reported hung. */
const GRACE_MS = 10_000;

export async function runOrdersService(options: RunOptions): Promise<RunResult> {
  const { sequelize, name: appName }: { sequelize: Sequelize; name: string } = await options.database.sequelize(
    options.infrastructure,
    options.plugin,
    { max: options.poolMax, min: 0, acquire: 20_000 },
  );
  const removeCleanup = onCleanup(() => sequelize.close());
  const unwatch = options.watch?.(sequelize);
  let connectionsOpened = 0;
  sequelize.addHook('afterConnect', () => {
    connectionsOpened++;
  });
  const workload = ordersWorkload(sequelize, defineModels(sequelize), options.plugin !== false);

  const result: RunResult = {
    label: options.label,
    operations: 0,
    failedReads: 0,
    failedWrites: 0,
    failedButCommitted: 0,
    lostWrites: 0,
    flaggedMayHaveExecuted: 0,
    duplicatedWrites: 0,
    retried: undefined,
    reconnects: undefined,
    appTransactionRetries: 0,
    transactionWarnings: 0,
    connectionsOpened: 0,
    latenciesMs: [],
    errors: new Map(),
    faultsApplied: [],
    idleClosed: undefined,
    hung: [],
  };
  const current = new Map<number, OpOutcome>();
  const writes: WriteRecord[] = [];
  const idleBefore = options.infrastructure.idleClosed();
  let inFlight = 0;
  let stopping = false;
  const progress = new Progress(options.label.padEnd(16));
  onInterrupt(() => {
    stopping = true;
    progress.abort();
  });

  const started = Date.now();
  const deadline = started + options.durationMs;
  let tagSeq = 0;

  const worker = async (id: number): Promise<void> => {
    const random = seededRandom(options.seed * 1000 + id);
    while (!stopping && Date.now() < deadline) {
      const outcome: OpOutcome = { name: '', kind: 'read', appRetries: 0 };
      const t0 = performance.now();
      inFlight++;
      current.set(id, outcome);
      try {
        await workload.next(random, `${id}-${++tagSeq}`, outcome);
      } catch (error) {
        if (outcome.kind === 'read') result.failedReads++;
        else result.failedWrites++;
        if (outcome.kind === 'write' && error instanceof ConnectionLostError && error.mayHaveExecuted) result.flaggedMayHaveExecuted++;
        const message = error instanceof Error ? error.message : String(error);
        const key = `${error instanceof Error ? error.name : 'Error'}: ${shortMessage(message)}`;
        result.errors.set(key, (result.errors.get(key) ?? 0) + 1);
      } finally {
        inFlight--;
        current.delete(id);
      }
      result.latenciesMs.push(performance.now() - t0);
      result.operations++;
      result.appTransactionRetries += outcome.appRetries;
      if (outcome.write) writes.push(outcome.write);
      // Think time: mostly short, now and then a customer who stops to read.
      const think = random() < 0.03 ? 500 + random() * 1000 : 5 + random() * 20;
      await new Promise((r) => setTimeout(r, think));
    }
  };

  const injector = async (): Promise<void> => {
    for (const fault of options.schedule) {
      const wait = started + fault.atMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (stopping) return;
      const applied = await injectFault(fault.kind, {
        proxy: options.infrastructure.proxy,
        terminate: () => options.database.terminate(appName),
        allIdle: () => {
          const pool = poolState(sequelize);
          return inFlight === 0 && pool.size === pool.available;
        },
      });
      if (applied) result.faultsApplied.push(fault.kind);
    }
  };

  // Sequelize reports a failed COMMIT / ROLLBACK with console.warn; count them rather than
  // letting them scribble over the progress bar.
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && /^(Committing|Rolling back) transaction .* failed/.test(args[0])) result.transactionWarnings++;
    else warn(...args);
  };
  const ticker = setInterval(() => {
    const failed = result.failedReads + result.failedWrites;
    progress.update((Date.now() - started) / options.durationMs, `${result.operations} ops, ${failed} failed`);
  }, 100);
  try {
    const all = Promise.all([injector(), ...Array.from({ length: options.workers }, (_, i) => worker(i + 1))]);
    const timedOut = await Promise.race([all.then(() => false), delay(options.durationMs + GRACE_MS).then(() => true)]);
    if (timedOut) result.hung = [...current.values()].map((o) => o.name);
  } finally {
    clearInterval(ticker);
    console.warn = warn;
  }
  if (wasInterrupted()) return result;
  progress.done(`${result.operations} operations, ${result.failedReads + result.failedWrites} failed`);

  if (options.plugin !== false) {
    const stats = getReconnectStats(sequelize);
    result.retried = stats.retries;
    result.reconnects = stats.reconnects;
  }
  result.connectionsOpened = connectionsOpened;
  const idleAfter = options.infrastructure.idleClosed();
  result.idleClosed = idleBefore === undefined || idleAfter === undefined ? undefined : idleAfter - idleBefore;
  removeCleanup();
  // A connection stuck under a hung statement would keep close() waiting: bound it.
  await Promise.race([sequelize.close(), delay(2000)]);
  unwatch?.();
  Object.assign(result, await auditWrites(options.database, writes));
  return result;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Counts each write's rows directly on the server: the ground truth behind every claim. */
async function auditWrites(
  database: DemoDatabase,
  writes: readonly WriteRecord[],
): Promise<Pick<RunResult, 'failedButCommitted' | 'lostWrites' | 'duplicatedWrites'>> {
  const counts = await database.tagCounts();
  let failedButCommitted = 0;
  let lostWrites = 0;
  let duplicatedWrites = 0;
  for (const w of writes) {
    const n = counts.get(`${w.table}/${w.tag}`) ?? 0;
    if (n > 1) duplicatedWrites++;
    if (w.succeeded && n === 0) lostWrites++;
    if (!w.succeeded && n > 0) failedButCommitted++;
  }
  return { failedButCommitted, lostWrites, duplicatedWrites };
}
