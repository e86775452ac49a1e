/**
 * The Sequelize instances of a chaos run, each behind a fault proxy of its own (so that its
 * connection attempts can be counted), and the checks made when the pool settles and at close.
 */
import { randomBytes } from 'node:crypto';
import { QueryTypes } from 'sequelize';
import { getReconnectStats } from '../../../src';
import { admin, assertPoolIntact, backendCount, poolState, testSequelize, withHostPort } from '../db';
import { FaultProxy } from '../fault-proxy';
import { defineItem } from '../fixture';
import { sleep } from '../workload';
import { isClosedError, violation, type Violation } from './invariants';
import type { InstancePlan } from './plan';
import type { Instance } from './workload';

export interface ChaosInstance extends Instance {
  readonly proxy: FaultProxy;
}

export async function createInstance(plan: InstancePlan, databaseUrl: string): Promise<ChaosInstance> {
  const server = new URL(databaseUrl);
  const proxy = await FaultProxy.start({ target: { host: server.hostname, port: Number(server.port) }, delayMs: plan.delayMs });
  const appName = `chaos_${plan.name}_${randomBytes(4).toString('hex')}`;
  // acquire: longer than any run, so that a stuck pool shows as a blown deadline, not a timeout.
  const sequelize = testSequelize(withHostPort(databaseUrl, proxy.host, proxy.port), {
    appName,
    plugin: plan.plugin,
    pool: { max: plan.poolMax, acquire: 120_000 },
  });
  return { plan, sequelize, Item: defineItem(sequelize), appName, proxy, closing: false, ops: [] };
}

/** Resolves with `promise`'s value, or 'timeout' after `ms`; the timer never outlives it. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls until `test` holds or `ms` pass; errors (a server restarting) count as "not yet". */
async function eventually(test: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  for (let i = 0; i < 1000; i++) {
    if (await test().catch(() => false)) return true;
    if (performance.now() > until) return false;
    await sleep(50);
  }
  return false;
}

/** How many server sessions `appName` has, asked until the server answers (it may be restarting). */
async function sessionsOf(serverUrl: string, appName: string): Promise<number | string> {
  let last: unknown;
  const until = performance.now() + 5000;
  for (let i = 0; i < 100 && performance.now() < until; i++) {
    try {
      return await backendCount(serverUrl, appName);
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  return `? (${(last as Error | undefined)?.message ?? 'no answer'})`;
}

/**
 * Invariant 4 once the workers have stopped and the faults are healed: nothing borrowed or
 * waiting, every counted connection idle in the pool, and no server session of this instance
 * that the pool does not hold (a client leaked on a failed connect, say).
 */
export async function checkPool(instance: ChaosInstance, serverUrl: string): Promise<Violation[]> {
  const out: Violation[] = [];
  const name = instance.plan.name;
  try {
    // A connection being opened when the workers stopped, for a caller served meanwhile by one
    // released, may still be opening: its attempt ends within the connect timeout.
    const connectTimeoutMs = (instance.plan.plugin && instance.plan.plugin.connectTimeoutMs) || 5000;
    await assertPoolIntact(instance.sequelize, connectTimeoutMs + 1000);
  } catch (error) {
    out.push(violation('4 pool', `${name}: ${(error as Error).message}`));
  }
  const clean = await eventually(async () => (await backendCount(serverUrl, instance.appName)) <= poolState(instance.sequelize).size, 5000);
  if (!clean) {
    const sessions = await backendCount(serverUrl, instance.appName).catch((error: unknown) => `? (${(error as Error).message})`);
    out.push(
      violation('4 pool', `${name}: ${sessions} server sessions, the pool holds ${poolState(instance.sequelize).size}: leaked clients`),
    );
  }
  return out;
}

/**
 * Closes the instance, waits (bounded) for its operations to settle, then checks invariant 3
 * after close: a query fails at once with Sequelize's closed error, no connection is attempted,
 * and no server session of it is left or comes back.
 */
export async function closeAndCheck(instance: ChaosInstance, serverUrl: string, settleMs: number): Promise<Violation[]> {
  const out: Violation[] = [];
  const name = instance.plan.name;
  instance.closing = true;
  const retries = () => (instance.plan.plugin ? getReconnectStats(instance.sequelize).retries : 0);
  const retriesAtClose = retries();
  if ((await within(instance.sequelize.close(), settleMs)) === 'timeout') {
    out.push(violation('3 after close', `${name}: close() still pending after ${settleMs} ms`));
  }
  const settled = await eventually(async () => instance.ops.every((op) => op.endedAt !== undefined), settleMs);
  if (!settled) out.push(violation('3 after close', `${name}: operations still running ${settleMs} ms after close()`));
  // A retry that began before close() may end after it; none may begin after it.
  const retriedAfter = retries() - retriesAtClose;
  if (retriedAfter > 0) out.push(violation('3 after close', `${name}: ${retriedAfter} retries began after close() was called`));

  const started = performance.now();
  const late = await within(
    instance.sequelize.query('SELECT 1 AS n', { type: QueryTypes.SELECT }).then(
      () => undefined,
      (error: unknown) => error,
    ),
    5000,
  );
  const took = Math.round(performance.now() - started);
  if (late === undefined) out.push(violation('3 after close', `${name}: a query after close() succeeded`));
  else if (late === 'timeout') out.push(violation('3 after close', `${name}: a query after close() still pending after 5000 ms`));
  else if (!isClosedError(late) || took > 1000) {
    out.push(violation('3 after close', `${name}: a query after close() failed after ${took} ms with something else`, late));
  }

  const attempts = () => instance.proxy.acceptedCount + instance.proxy.refusedCount;
  const before = attempts();
  await sleep(500);
  if (attempts() !== before)
    out.push(violation('3 after close', `${name}: ${attempts() - before} connection attempts 0.5-1 s after close()`));
  const gone = async () => (await backendCount(serverUrl, instance.appName)) === 0;
  // Gone, and still gone a moment later: nothing reconnected.
  const sessions = (await eventually(gone, 5000)) ? await sleep(300).then(() => sessionsOf(serverUrl, instance.appName)) : undefined;
  if (sessions !== 0) {
    const now = sessions ?? (await sessionsOf(serverUrl, instance.appName));
    out.push(violation('3 after close', `${name}: ${now} server sessions of it after close()`));
  }
  return out;
}

/** Rows per tag and the final value per upserted key, read straight from the server. */
export async function readRows(databaseUrl: string): Promise<{ counts: Map<string, number>; finals: Map<string, number> }> {
  return admin(databaseUrl, async (c) => {
    const items = await c.query<{ tag: string; n: number }>('SELECT tag, count(*)::int AS n FROM items GROUP BY tag');
    const kv = await c.query<{ k: string; v: number }>('SELECT k, v FROM kv');
    return { counts: new Map(items.rows.map((r) => [r.tag, r.n])), finals: new Map(kv.rows.map((r) => [r.k, r.v])) };
  });
}
