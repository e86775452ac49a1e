import type { Model, ModelStatic } from 'sequelize';
import { backoffDelay } from '../backoff';
import { budgetAllows, type GiveUpReason } from '../decide';
import { ConnectionLostError, connectFailure, explain } from '../errors';
import { hasReconnectHook, runReconnectHook, type ReconnectConfig, type ReconnectContext } from '../hooks';
import { debug } from '../log';
import { operationOf, remainingMs, type Operation } from '../operation';
import { checkOptions, modelOf, policyFor } from '../policy';
import { configFor, poolFor, type AcquireOptions, type Connection, type PluginState } from '../state';
import { DeadlineError, pause, withDeadline } from '../timing';
import { checkedOut, markPool, maxPoolSize } from './pool';

/**
 * Wraps this instance's `connectionManager.getConnection`: the connection handed out is checked
 * (lifetime, validation after idling), and failures to open one that may pass (refused,
 * starting up, too many connections, reset) are retried with backoff within the operation's
 * budget. The success path adds a promise step and a WeakMap lookup.
 */
export function patchConnectionManager(state: PluginState): void {
  state.connectionManager.getConnection = function getConnection(options: AcquireOptions = {}): Promise<Connection> {
    // Sequelize copies these options into the Query, which shares this record of the operation.
    const op = operationOf(options);
    if (op.final) return Promise.reject(op.final);
    try {
      checkOptions(state, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const attempt = acquire(state, op, options, (error) => retryConnect(state, options, error));
    // While others back off, a connection that opens says the server is back: wake them.
    return state.backoffs.anyone ? attempt.then(wakeOthers(state)) : attempt;
  };
}

function wakeOthers(state: PluginState): (connection: Connection) => Connection {
  return (connection) => {
    state.backoffs.wakeAll();
    return connection;
  };
}

/**
 * One attempt at a usable connection (once the operation has failed, bounded by its deadline);
 * failures go to `onError`. One promise step on the common path.
 */
function acquire(
  state: PluginState,
  op: Operation,
  options: AcquireOptions,
  onError: (error: unknown) => Promise<Connection>,
): Promise<Connection> {
  const attempt = op.firstFailureAt === 0 ? state.acquireOnce(options) : acquireWithinDeadline(state, op, options);
  return attempt.then((connection) => {
    const ready = checkedOut(state, op, connection, () => acquire(state, op, options, (error) => Promise.reject(error)));
    return ready instanceof Promise ? ready.catch(onError) : ready;
  }, onError);
}

function acquireWithinDeadline(state: PluginState, op: Operation, options: AcquireOptions): Promise<Connection> {
  const { deadlineMs } = policyFor(state, options);
  return withDeadline(
    state.acquireOnce(options),
    remainingMs(op, deadlineMs),
    () => new DeadlineError(deadlineMs),
    (late) => state.connectionManager.releaseConnection(late),
  );
}

async function retryConnect(state: PluginState, options: AcquireOptions, firstError: unknown): Promise<Connection> {
  const { sequelize, stats, classifier } = state;
  const settings = policyFor(state, options);
  const op = operationOf(options);
  const model = modelOf(options) as ModelStatic<Model> | undefined;
  const pool = poolFor(state, options);
  let error = firstError;
  for (;;) {
    // A deadline of ours is no failure to report: the last real one is.
    if (!(error instanceof DeadlineError)) op.cause = error;
    if (state.closed) throw giveUp(state, op, 'closed');
    if (error instanceof DeadlineError) throw giveUp(state, op, 'deadline-exceeded');
    const kind = classifier.classifyConnectError(error);
    if (kind === 'fatal' || (kind === 'auth' && !hasReconnectHook(sequelize, model, 'beforeReconnect'))) {
      throw giveUp(state, op, 'not-retryable');
    }
    stats.connectFailures++;
    if (kind === 'auth' && refusedWithReplacedPassword(state, error) && op.staleLogins < maxPoolSize(state)) {
      // The pool hands a failed login to its oldest waiter: this one may have started before
      // a hook (ours or a concurrent caller's) replaced the password. Try the new one at once,
      // without spending the budget or asking the hooks again.
      op.staleLogins++;
      try {
        return await acquire(state, op, options, (e) => Promise.reject(e));
      } catch (staleRetryError) {
        error = staleRetryError;
        continue;
      }
    }
    // The server was unreachable: idle connections to it may be dead too.
    if (kind === 'transient') markPool(state, pool, 'dead');
    const remaining = remainingMs(op, settings.deadlineMs);
    const allowed = budgetAllows({ retriesMade: op.retriesMade, retries: settings.retries, remainingMs: remaining });
    if (allowed !== true) throw giveUp(state, op, allowed);

    op.retriesMade++;
    stats.retries++;
    const config = failedAttempt(state, error)?.config ?? configFor(state, pool);
    const context: ReconnectContext = {
      error: asError(error),
      attempt: op.retriesMade,
      phase: 'connect',
      config,
      pool: state.connectionManager.config.replication ? pool : undefined,
      host: config.host,
      model,
      transaction: options.transaction ?? undefined,
    };
    debug(`connect failed (${kind}): ${state.redact(context.error.message)}; retry ${op.retriesMade} of ${settings.retries}`);
    try {
      await runReconnectHook(sequelize, 'beforeReconnect', context);
    } catch (hookError) {
      throw giveUp(state, op, 'hook-failed', hookError);
    }
    await backOff(
      state,
      Math.min(backoffDelay(op.retriesMade, settings.backoff, false), Math.max(0, remainingMs(op, settings.deadlineMs))),
    );
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have come during the wait
    if (state.closed) throw giveUp(state, op, 'closed');

    let connection: Connection;
    try {
      connection = await acquire(state, op, options, (e) => Promise.reject(e));
    } catch (reconnectError) {
      stats.reconnectFailures++;
      await afterReconnect(state, op, context, reconnectError);
      error = reconnectError;
      continue;
    }
    stats.reconnects++;
    state.backoffs.wakeAll();
    try {
      await afterReconnect(state, op, context);
    } catch (hookFailure) {
      state.connectionManager.releaseConnection(connection);
      throw hookFailure;
    }
    if (!op.recovering) stats.retriesSucceeded++;
    debug(`reconnected after ${op.retriesMade} ${op.retriesMade === 1 ? 'retry' : 'retries'}`);
    return connection;
  }
}

/** Waits `ms` between attempts; woken early when a connection opens again or the instance closes. */
export function backOff(state: PluginState, ms: number): Promise<void> {
  return ms > 0 ? state.backoffs.sleep(ms) : pause(0);
}

function failedAttempt(state: PluginState, error: unknown): { config: ReconnectConfig; password: unknown } | undefined {
  return typeof error === 'object' && error !== null ? state.failedAttempts.get(error) : undefined;
}

/** Was this login refused with a password that has been replaced on its config since? */
function refusedWithReplacedPassword(state: PluginState, error: unknown): boolean {
  const attempt = failedAttempt(state, error);
  return attempt !== undefined && attempt.password !== attempt.config.password;
}

/** Runs `afterReconnect`; a hook that throws ends the operation like a failed `beforeReconnect`. */
async function afterReconnect(state: PluginState, op: Operation, context: ReconnectContext, reconnectError?: unknown): Promise<void> {
  try {
    await runReconnectHook(state.sequelize, 'afterReconnect', {
      ...context,
      reconnected: reconnectError === undefined,
      reconnectError: reconnectError === undefined ? undefined : asError(reconnectError),
    });
  } catch (hookError) {
    if (reconnectError !== undefined && !(reconnectError instanceof DeadlineError)) op.cause = reconnectError;
    throw giveUp(state, op, 'hook-failed', hookError);
  }
}

/**
 * The error for a caller we stop retrying for, whether or not a retry was made: always a
 * `ConnectionLostError` over the operation's last real failure (never the driver's raw error, nor
 * a deadline of ours), of the class Sequelize would have thrown where it threw one.
 */
function giveUp(state: PluginState, op: Operation, reason: GiveUpReason, hookError?: unknown): ConnectionLostError {
  if (op.final instanceof ConnectionLostError) return op.final;
  if (!op.recovering) {
    if (op.retriesMade > 0) state.stats.retriesFailed++;
    else state.stats.notRetried++;
  }
  const final = connectFailure(asError(op.cause), { attempts: op.retriesMade + 1, reason, hookError }, state.redact);
  const tries = final.attempts === 1 ? '1 attempt' : `${final.attempts} attempts`;
  debug(`giving up: could not connect after ${tries}: ${final.message}; ${explain(reason)}`);
  op.final = final;
  return final;
}

export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
