import { backoffDelay } from '../backoff';
import { budgetAllows, type GiveUpReason } from '../decide';
import { ConnectionLostError } from '../errors';
import { hasReconnectHook, runReconnectHook, type ReconnectContext } from '../hooks';
import { debug } from '../log';
import { operationOf, remainingMs, type Operation } from '../operation';
import { configFor, type AcquireOptions, type Connection, type PluginState } from '../state';
import { Backoffs, DeadlineError, withDeadline, yieldToIo } from '../timing';
import type { Model, ModelStatic } from 'sequelize';

/**
 * Wraps this instance's `connectionManager.getConnection`: failures to open a connection that
 * may pass (refused, starting up, too many connections, reset) are retried with backoff within
 * the operation's budget. The success path adds one promise and nothing else.
 */
export function patchConnectionManager(state: PluginState): void {
  const cm = state.connectionManager;
  const backoffs = new Backoffs();
  cm.getConnection = function getConnection(options: AcquireOptions = {}): Promise<Connection> {
    // Sequelize copies these options into the Query, which shares this record of the operation.
    const op = operationOf(options);
    if (op.final) return Promise.reject(op.final);
    // Once the operation has failed, every wait for a connection is bounded by its deadline.
    const attempt = op.firstFailureAt === 0 ? state.acquireOnce(options) : acquireWithinDeadline(state, op, options);
    // While others back off, a connection that opens says the server is back: wake them.
    const watched = backoffs.anyone ? attempt.then(wakeOthers(backoffs)) : attempt;
    return watched.catch((error: unknown) => retryConnect(state, backoffs, options, error));
  };
}

function wakeOthers(backoffs: Backoffs): (connection: Connection) => Connection {
  return (connection) => {
    backoffs.wakeAll();
    return connection;
  };
}

function acquireWithinDeadline(state: PluginState, op: Operation, options: AcquireOptions): Promise<Connection> {
  const { deadlineMs } = state.options;
  return withDeadline(
    state.acquireOnce(options),
    remainingMs(op, deadlineMs),
    () => new DeadlineError(deadlineMs),
    (late) => state.connectionManager.releaseConnection(late),
  );
}

async function retryConnect(state: PluginState, backoffs: Backoffs, options: AcquireOptions, firstError: unknown): Promise<Connection> {
  const { sequelize, options: settings, stats, classifier } = state;
  const op = operationOf(options);
  const model = options.model as ModelStatic<Model> | undefined;
  let error = firstError;
  for (;;) {
    if (error instanceof DeadlineError) throw giveUp(state, op, error, 'deadline-exceeded');
    const kind = classifier.classifyConnectError(error);
    if (kind === 'fatal' || (kind === 'auth' && !hasReconnectHook(sequelize, model, 'beforeReconnect'))) {
      throw giveUp(state, op, error, 'retries-exhausted');
    }
    stats.connectFailures++;
    const remaining = remainingMs(op, settings.deadlineMs);
    const allowed = budgetAllows({ retriesMade: op.retriesMade, retries: settings.retries, remainingMs: remaining });
    if (allowed !== true) throw giveUp(state, op, error, allowed);

    op.retriesMade++;
    stats.retries++;
    const context: ReconnectContext = {
      error: asError(error),
      attempt: op.retriesMade,
      phase: 'connect',
      config: configFor(state, options),
      model,
      transaction: options.transaction ?? undefined,
    };
    debug(`connect failed (${kind}): ${state.redact(context.error.message)}; retry ${op.retriesMade} of ${settings.retries}`);
    try {
      await runReconnectHook(sequelize, 'beforeReconnect', context);
    } catch (hookError) {
      throw giveUp(state, op, error, 'hook-failed', hookError);
    }
    const delay = Math.min(backoffDelay(op.retriesMade, settings.backoff, false), Math.max(0, remainingMs(op, settings.deadlineMs)));
    await (delay > 0 ? backoffs.sleep(delay) : yieldToIo());

    let connection: Connection;
    try {
      connection = await acquireWithinDeadline(state, op, options);
    } catch (reconnectError) {
      stats.reconnectFailures++;
      await afterReconnect(state, op, context, reconnectError);
      error = reconnectError;
      continue;
    }
    stats.reconnects++;
    backoffs.wakeAll();
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

/** Runs `afterReconnect`; a hook that throws ends the operation like a failed `beforeReconnect`. */
async function afterReconnect(state: PluginState, op: Operation, context: ReconnectContext, reconnectError?: unknown): Promise<void> {
  try {
    await runReconnectHook(state.sequelize, 'afterReconnect', {
      ...context,
      reconnected: reconnectError === undefined,
      reconnectError: reconnectError === undefined ? undefined : asError(reconnectError),
    });
  } catch (hookError) {
    throw giveUp(state, op, reconnectError ?? context.error, 'hook-failed', hookError);
  }
}

/**
 * The error for a caller we stop retrying for. Without any retry the driver's error passes
 * through unchanged: the plugin had nothing to add.
 */
function giveUp(state: PluginState, op: Operation, error: unknown, reason: GiveUpReason, hookError?: unknown): unknown {
  if (op.final) return op.final;
  if (op.retriesMade === 0) return error;
  if (!op.recovering) state.stats.retriesFailed++;
  const final = new ConnectionLostError(
    asError(error),
    { phase: 'connect', mayHaveExecuted: false, transactionLost: false, attempts: op.retriesMade + 1, reason, hookError },
    state.redact,
  );
  debug(`giving up: ${final.message}`);
  op.final = final;
  return final;
}

export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
