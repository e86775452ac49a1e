/**
 * One chaos run: a seed's plan against a server of the caller's (which it restarts at will),
 * then the invariants. Every loop is bounded in count and time, and everything it starts is
 * stopped in `finally`.
 */
import { executionAsyncResource } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { getReconnectStats } from '../../../src';
import { admin, withDatabase } from '../db';
import type { TestServer } from '../postgres';
import { sleep } from '../workload';
import { heal, inject, type FaultTarget } from './faults';
import { checkPool, closeAndCheck, createInstance, readRows, within, type ChaosInstance } from './instances';
import { auditRows, checkOperation, describeError, violation, type Violation } from './invariants';
import { describeFault, planRun, type InstancePlan, type Plan, type PlanFlags } from './plan';
import { startWorkload } from './workload';

export interface ChaosOptions extends PlanFlags {
  readonly seed: number;
  readonly seconds: number;
  /** Allowance over an operation's deadline for a busy machine. */
  readonly slackMs?: number;
  /**
   * Leave the plugin instances' black holes (silent faults) in place at the end of the run, so
   * that a statement stuck on one is a violation however short the run (otherwise the end of
   * the faults ends them, and only a hang longer than the deadline and slack shows).
   */
  readonly keepBlackHoles?: boolean;
  readonly log?: (line: string) => void;
}

export interface ChaosResult {
  readonly plan: Plan;
  readonly violations: readonly Violation[];
  /** Operations, faults, errors seen and plugin counters, one line each. */
  readonly summary: readonly string[];
}

export const DEFAULT_SLACK_MS = 2000;

export async function runChaos(server: TestServer, options: ChaosOptions): Promise<ChaosResult> {
  const plan = planRun(options.seed, options.seconds, options);
  const log = options.log ?? (() => {});
  const violations: Violation[] = [];
  const instances: ChaosInstance[] = [];
  const onUncaught = (error: unknown) =>
    violations.push(violation('2 uncaught', `uncaughtException during the run, ${whoseSocket(instances)}`, error));
  const onRejection = (error: unknown) => violations.push(violation('2 uncaught', 'unhandledRejection during the run', error));
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onRejection);

  const database = `chaos_${randomBytes(4).toString('hex')}`;
  const databaseUrl = withDatabase(server.url, database);
  const holds: Array<[number, number]> = [];
  const injected = new Map<string, number>();
  let stop = false;
  try {
    await admin(server.url, (c) => c.query(`CREATE DATABASE ${database}`));
    // No unique constraint on tag: a duplicated write must be countable.
    await admin(databaseUrl, (c) =>
      c.query(`CREATE TABLE items (id serial PRIMARY KEY, tag text NOT NULL, "createdAt" timestamptz, "updatedAt" timestamptz);
               CREATE INDEX ON items (tag);
               CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL);`),
    );
    for (const instancePlan of plan.instances) instances.push(await createInstance(instancePlan, databaseUrl));
    const withPlugin = instances.filter((i) => i.plan.plugin !== false);
    const target: FaultTarget = {
      server,
      proxies: instances.map((i) => i.proxy),
      silenceable: instances.map((i) => i.proxy),
      watched: options.keepBlackHoles ? instances.filter((i) => i.plan.plugin !== false).map((i) => i.proxy) : [],
      appNames: instances.map((i) => i.appName),
      onHold: (start, end) => holds.push([start, end]),
      serverUp: true,
    };
    // Time enough for any operation to settle, however it ends.
    const settleMs = Math.max(...withPlugin.map((i) => (i.plan.plugin ? 2 * i.plan.plugin.deadlineMs : 0))) + 15_000;
    log(`seed ${plan.seed}: ${plan.instances.map(describeInstance).join('; ')}; ${plan.steps.length} faults planned`);

    const endAt = performance.now() + plan.seconds * 1000;
    const running = () => !stop && performance.now() < endAt;
    const workload = startWorkload(plan, instances, running);
    const earlyCloses = withPlugin
      .filter((i) => i.plan.closeEarlyAtMs !== undefined)
      .map(async (i) => {
        for (const until = performance.now() + i.plan.closeEarlyAtMs!; running() && performance.now() < until;) await sleep(20);
        violations.push(...(await closeAndCheck(i, server.url, settleMs)));
      });

    try {
      for (const step of plan.steps) {
        await sleep(step.afterMs);
        if (!running()) break;
        const name = describeFault(step.fault).replace(/(, down)? \d+ ms.*$/, '');
        injected.set(name, (injected.get(name) ?? 0) + 1);
        await inject(step.fault, target);
      }
    } finally {
      stop = true;
      await heal(target);
    }
    if ((await within(workload, settleMs)) === 'timeout') log(`seed ${plan.seed}: workers still running ${settleMs} ms after the end`);
    await within(Promise.all(earlyCloses), 2 * settleMs);

    for (const instance of withPlugin.filter((i) => !i.closing)) violations.push(...(await checkPool(instance, server.url)));
    const summary = summarize(instances, injected);
    for (const instance of withPlugin.filter((i) => !i.closing)) violations.push(...(await closeAndCheck(instance, server.url, settleMs)));

    const heldDuring = (start: number, end: number) =>
      holds.reduce((sum, [s, e]) => sum + Math.max(0, Math.min(end, e) - Math.max(start, s)), 0);
    for (const instance of withPlugin) {
      const plugin = instance.plan.plugin as Exclude<typeof instance.plan.plugin, false>;
      const limits = {
        deadlineMs: plugin.deadlineMs,
        retries: plugin.retries,
        slackMs: (options.slackMs ?? DEFAULT_SLACK_MS) + plugin.validateTimeoutMs,
        heldDuring,
      };
      for (const op of instance.ops) violations.push(...checkOperation(op, limits));
    }
    const rows = await readRows(databaseUrl);
    violations.push(
      ...auditRows(
        withPlugin.flatMap((i) => i.ops),
        rows.counts,
        rows.finals,
      ),
    );
    return { plan, violations, summary };
  } finally {
    stop = true;
    await within(Promise.all(instances.map((i) => i.sequelize.close().catch(() => {}))), 20_000);
    await within(Promise.all(instances.map((i) => i.proxy.close())), 10_000);
    await admin(server.url, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)).catch((error: unknown) =>
      log(`seed ${plan.seed}: could not drop ${database}: ${describeError(error).message}`),
    );
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onRejection);
  }
}

/**
 * Whose connection an uncaught exception came from. An 'error' event nobody listens for is
 * thrown from the socket's 'data' or 'close' callback, so the resource running now is that
 * socket's TCP handle; its local port is the one the instance's fault proxy saw it connect from.
 */
function whoseSocket(instances: readonly ChaosInstance[]): string {
  const resource = executionAsyncResource() as { getsockname?: (out: { port?: number }) => unknown };
  const address: { port?: number } = {};
  if (typeof resource.getsockname !== 'function' || resource.getsockname(address) !== 0 || address.port === undefined) {
    return 'not from a socket';
  }
  const port = address.port;
  const owners = instances
    .filter((i) => i.proxy.servedClientPort(port))
    .map((i) => `${i.plan.name}${i.plan.plugin ? ' (with the plugin)' : ''}`);
  return owners.length > 0 ? `on a connection of ${owners.join(' or ')}` : `on a socket of no instance (local port ${port})`;
}

function describeInstance(i: InstancePlan): string {
  const early = i.closeEarlyAtMs === undefined ? '' : `, closed at ${i.closeEarlyAtMs} ms`;
  const delay = i.delayMs ? `, latency ${i.delayMs} ms` : '';
  return `${i.name} (pool ${i.poolMax}, ${i.workers} workers${early}${delay}${i.plugin ? `, ${JSON.stringify(i.plugin)}` : ', bare'})`;
}

function summarize(instances: readonly ChaosInstance[], injected: ReadonlyMap<string, number>): string[] {
  const lines = [`faults: ${[...injected].map(([f, n]) => `${f} ${n}`).join(', ') || 'none'}`];
  for (const instance of instances) {
    const ops = instance.ops;
    const failed = ops.filter((o) => o.ok === false);
    const errors = new Map<string, number>();
    for (const op of failed) {
      const e = describeError(op.error);
      const key = `${e.name}: ${e.message.replace(/\d{3,}/g, 'N').slice(0, 100)}`;
      errors.set(key, (errors.get(key) ?? 0) + 1);
    }
    lines.push(`${instance.plan.name}: ${ops.length} operations, ${failed.length} failed`);
    for (const [message, n] of [...errors].sort((a, b) => b[1] - a[1]).slice(0, 5)) lines.push(`  ${n} x ${message.split('\n')[0]}`);
    if (instance.plan.plugin) lines.push(`  stats ${JSON.stringify(getReconnectStats(instance.sequelize))}`);
  }
  return lines;
}
