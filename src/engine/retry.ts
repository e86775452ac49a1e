import { backoffDelay } from '../core/backoff';
import type { ReconnectFailure } from '../core/failure';
import type { ReconnectConfig, ReconnectContext } from '../hooks';
import { errorCode, listening, publish } from './events';
import { remainingMs, type Operation } from './operation';
import type { AcquireOptions, Connection } from './port';
import { runHook } from './run-hook';
import { sleepScouted } from './scout';
import { asError, type Engine } from './state';

/**
 * The steps every recovery takes between two attempts. Each recovery (a connection in
 * connect.ts, a statement in statement.ts, a managed transaction in replay.ts) is a loop of its
 * own that reads top to bottom: decide (core/decide), `countRetry`, `beforeRetry`, `reconnect`,
 * put the new connection in place, `afterReconnect`, the next attempt.
 */

/** What bounds one recovery: the name it reports under, its budget and its backoff. */
export interface RetryPlan {
  readonly name: 'connect' | 'query' | 'transaction';
  readonly retries: number;
  readonly deadlineMs: number;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  /** Whether a retry that finds the server up replaces the connection at once (a stale connection). */
  readonly immediateFirst: boolean;
  /** What is retried, as events tell it. */
  readonly operation: 'read' | 'write' | 'transaction';
}

/** A hook threw: the error the recovery gives up with instead (`reconnectError`: the attempt that failed, if one did). */
export type GiveUpWith = (hookError: unknown, reconnectError?: unknown) => Error;

/** A retry starts: counted (the hooks' `attempt` is its number). */
export function countRetry(engine: Engine, op: Operation): void {
  op.retriesMade++;
  engine.stats.note('retries');
}

/**
 * Tells `beforeReconnect` (which may end the recovery), and backs off within the deadline; a
 * connect backoff (`scoutWith`: its options) ends as soon as the server answers again.
 */
export async function beforeRetry(
  engine: Engine,
  op: Operation,
  plan: RetryPlan,
  context: ReconnectContext,
  failure: ReconnectFailure,
  giveUpWith: GiveUpWith,
  scoutWith?: AcquireOptions,
): Promise<void> {
  const what =
    plan.name === 'connect'
      ? `connect failed (${failure})`
      : `connection lost under a ${plan.name === 'query' ? 'statement' : 'transaction'}`;
  engine.host.debug(`${what}: ${engine.redact(context.error.message)}; retry ${op.retriesMade} of ${plan.retries}`);
  await runHook(engine, 'beforeReconnect', context, giveUpWith);
  const left = Math.max(0, remainingMs(op, plan.deadlineMs, engine.clock.now()));
  const delay = backoffDelay(op.retriesMade, plan.backoff, plan.immediateFirst, () => engine.clock.random());
  const ms = Math.min(delay, left);
  const sleptFrom = engine.clock.now();
  await (scoutWith ? sleepScouted(engine, scoutWith, ms) : engine.backoffs.sleep(ms));
  if (listening('retry')) {
    const delayMs = engine.clock.now() - sleptFrom;
    publish(engine, 'retry', { attempt: op.retriesMade, delayMs, phase: plan.name, operation: plan.operation }, context.config);
  }
}

/** A connection was found lost (or could not be opened): told to `connectionLost` subscribers. */
export function publishLost(
  engine: Engine,
  phase: 'connect' | 'query' | 'transaction' | 'commit',
  failure: ReconnectFailure,
  error: unknown,
  config: ReconnectConfig,
  inTransaction = phase === 'transaction' || phase === 'commit',
): void {
  if (listening('connectionLost')) publish(engine, 'connectionLost', { phase, failure, code: errorCode(error), inTransaction }, config);
}

/** An operation succeeded after at least one retry: told to `recovered` subscribers. */
export function publishRecovered(engine: Engine, op: Operation, config?: ReconnectConfig): void {
  if (listening('recovered')) {
    publish(engine, 'recovered', { attempts: op.retriesMade + 1, elapsedMs: elapsedSince(engine, op) }, config);
  }
}

/** Since the operation's first failure. */
export function elapsedSince(engine: Engine, op: Operation): number {
  return op.firstFailureAt === 0 ? 0 : engine.clock.now() - op.firstFailureAt;
}

/**
 * A new connection for the next attempt, or the error that kept it from being had (after
 * `afterReconnect` was told of it: a hook that throws ends the recovery).
 */
export async function reconnect(
  engine: Engine,
  context: ReconnectContext,
  connect: () => Promise<Connection>,
  giveUpWith: GiveUpWith,
): Promise<{ readonly connection: Connection } | { readonly failed: unknown }> {
  const startedAt = engine.clock.now();
  try {
    const connection = await connect();
    engine.stats.note('reconnects');
    if (listening('reconnect')) {
      publish(engine, 'reconnect', { attempt: context.attempt, ok: true, durationMs: engine.clock.now() - startedAt }, context.config);
    }
    return { connection };
  } catch (reconnectError) {
    engine.stats.note('reconnectFailures');
    if (listening('reconnect')) {
      const failure = engine.dialect.classifier.classifyConnectError(reconnectError) === 'auth' ? 'auth' : 'transient';
      const durationMs = engine.clock.now() - startedAt;
      publish(engine, 'reconnect', { attempt: context.attempt, ok: false, durationMs, failure }, context.config);
    }
    const told = { ...context, reconnected: false, reconnectError: asError(reconnectError) };
    await runHook(engine, 'afterReconnect', told, (hookError) => giveUpWith(hookError, reconnectError));
    return { failed: reconnectError };
  }
}

/** The new connection is in place: `afterReconnect` is told (a hook that throws ends the recovery). */
export function afterReconnect(engine: Engine, context: ReconnectContext, giveUpWith: GiveUpWith): Promise<void> {
  return runHook(engine, 'afterReconnect', { ...context, reconnected: true }, giveUpWith);
}
