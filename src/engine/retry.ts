import { backoffDelay } from '../core/backoff';
import type { GiveUpReason } from '../core/decide';
import { asError } from '../core/failure';
import type { ReconnectContext } from '../hooks';
import { listening, publish } from './events';
import { remainingMs, type Operation } from './operation';
import type { AcquireOptions, Connection } from './port';
import { runHook } from './run-hook';
import { sleepScouted } from './scout';
import type { Engine } from './state';

/**
 * One retry, the same in every recovery. Each recovery (a connection in connect.ts, a statement
 * in statement.ts, a managed transaction in replay.ts) is a loop of its own that reads top to
 * bottom: decide (core/decide), `retry`, put the new connection to use, the next attempt.
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

/** What a retry is about, as the hooks are told it; the retry adds its number and the error. */
export type RetryAbout = Omit<ReconnectContext, 'attempt' | 'error'>;

/** How the recovery gets a new connection (connect.ts's `acquireAttempt` or `acquireFor`). */
export type Acquire = (engine: Engine, op: Operation, options: AcquireOptions) => Promise<Connection>;

/** The error a recovery ends with (`cause`: the failure it reports, when not its last one). */
export type GiveUpWith = (reason: GiveUpReason, hookError?: unknown, cause?: unknown) => Error;

/** A new connection, not in use yet, and what the hooks were told; or the error that kept it from being had. */
export type Retried = { readonly connection: Connection; readonly context: ReconnectContext } | { readonly failed: unknown };

/**
 * Spends one retry of `op`: counted; `beforeReconnect` told; a backoff within the deadline (a
 * connect backoff ends as soon as the server answers again); a connection from `acquire`;
 * `afterReconnect` told whether there is one. A hook that throws ends the recovery (`giveUp`,
 * the new connection released), and so does `close()` during the backoff.
 */
export async function retry(
  engine: Engine,
  op: Operation,
  plan: RetryPlan,
  about: RetryAbout,
  error: unknown,
  acquire: Acquire,
  options: AcquireOptions,
  giveUp: GiveUpWith,
): Promise<Retried> {
  op.retriesMade++;
  engine.stats.note('retries');
  const context: ReconnectContext = { ...about, error: asError(error), attempt: op.retriesMade };
  const what =
    plan.name === 'connect'
      ? `connect failed (${context.failure})`
      : `connection lost under a ${plan.name === 'query' ? 'statement' : 'transaction'}`;
  engine.host.debug(`${what}: ${engine.redact(context.error.message)}; retry ${op.retriesMade} of ${plan.retries}`);
  await runHook(engine, 'beforeReconnect', context, (hookError) => giveUp('hook-failed', hookError), hookBoundMs(engine, op, plan));

  const delay = backoffDelay(op.retriesMade, plan.backoff, plan.immediateFirst, engine.clock.random());
  const sleptFrom = engine.clock.now();
  const ms = Math.min(delay, Math.max(0, remainingMs(op, plan.deadlineMs, sleptFrom)));
  await (plan.name === 'connect' ? sleepScouted(engine, options, ms) : engine.backoffs.sleep(ms));
  if (listening('retry')) {
    const delayMs = engine.clock.now() - sleptFrom;
    publish(engine, 'retry', { attempt: op.retriesMade, delayMs, phase: plan.name, operation: plan.operation }, context.config);
  }
  if (engine.closed) throw giveUp('closed');

  const startedAt = engine.clock.now();
  let connection: Connection;
  try {
    connection = await acquire(engine, op, options);
  } catch (reconnectError) {
    engine.stats.note('reconnectFailures');
    if (listening('reconnect')) {
      const failure = engine.dialect.classifier.classifyConnectError(reconnectError) === 'auth' ? 'auth' : 'transient';
      const durationMs = engine.clock.now() - startedAt;
      publish(engine, 'reconnect', { attempt: context.attempt, ok: false, durationMs, failure }, context.config);
    }
    const told = { ...context, reconnected: false, reconnectError: asError(reconnectError) };
    await runHook(
      engine,
      'afterReconnect',
      told,
      (hookError) => giveUp('hook-failed', hookError, reconnectError),
      hookBoundMs(engine, op, plan),
    );
    return { failed: reconnectError };
  }
  engine.stats.note('reconnects');
  if (listening('reconnect')) {
    publish(engine, 'reconnect', { attempt: context.attempt, ok: true, durationMs: engine.clock.now() - startedAt }, context.config);
  }
  const hookFailed = (hookError: unknown) => {
    engine.host.release(connection);
    return giveUp('hook-failed', hookError);
  };
  await runHook(engine, 'afterReconnect', { ...context, reconnected: true }, hookFailed, hookBoundMs(engine, op, plan));
  return { connection, context };
}

/** A hook has what is left of its operation's deadline (at least a second, for one run just before it). */
function hookBoundMs(engine: Engine, op: Operation, plan: RetryPlan): number {
  return Math.max(HOOK_FLOOR_MS, remainingMs(op, plan.deadlineMs, engine.clock.now()));
}
const HOOK_FLOOR_MS = 1000;
