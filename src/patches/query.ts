import type { Model, ModelStatic, Transaction } from 'sequelize';
import { backoffDelay } from '../backoff';
import { budgetAllows, statementRetryable, type GiveUpReason } from '../decide';
import { ConnectionLostError } from '../errors';
import { runReconnectHook, type AfterReconnectContext, type ReconnectContext } from '../hooks';
import { debug } from '../log';
import { kOperation, operationOf, remainingMs, type Operation } from '../operation';
import { configFor, type AcquireOptions, type Connection, type PluginState } from '../state';
import { sleep, yieldToIo } from '../timing';
import { asError } from './connection-manager';

/** Sequelize query types that only read. A raw `sequelize.query(sql)` is `RAW` and counts as a write. */
const READ_TYPES = new Set(['SELECT', 'SHOWTABLES', 'SHOWINDEXES', 'DESCRIBE', 'VERSION', 'FOREIGNKEYS', 'SHOWCONSTRAINTS']);

/** Per-call option, `sequelize.query(sql, { reconnect })` and every model method. */
export type ReconnectQueryOption = false | { retries?: number; idempotent?: boolean };

interface QueryOptions extends AcquireOptions {
  transaction?: (Transaction & { parent?: Transaction; id: string; connection: Connection; options: { readOnly?: boolean } }) | null;
  reconnect?: ReconnectQueryOption;
}

/** The dialect Query instance, as far as the plugin touches it. */
interface QueryLike {
  connection: Connection;
  options: QueryOptions;
}

type QueryClass = new (...args: never[]) => QueryLike & { run(sql: string, parameters?: unknown): Promise<unknown> };

/**
 * Gives this instance its own subclass of the dialect's Query class (Sequelize creates queries
 * with `sequelize.dialect.Query`). Its `run` adds one rejection handler on success: a plain
 * `.catch` rather than an async method, which allocated about 250 more bytes per statement
 * (npm run bench, section 1). The dialect's `run` is async, so it never throws synchronously.
 */
export function patchQuery(state: PluginState): void {
  const { dialect } = state.sequelize as unknown as { dialect: { Query: QueryClass } };
  const Base = dialect.Query;
  class AutoReconnectQuery extends Base {
    override run(sql: string, parameters?: unknown): Promise<unknown> {
      return super.run(sql, parameters).catch((error: unknown) => recover(state, this, sql, error, () => super.run(sql, parameters)));
    }
  }
  dialect.Query = AutoReconnectQuery;
}

/** What `ROLLBACK` resolves with when the server has already rolled back with the lost session. */
const ROLLED_BACK_WITH_SESSION: unknown = [[], 0];

async function recover(state: PluginState, query: QueryLike, sql: string, error: unknown, runAgain: () => Promise<unknown>): Promise<unknown> {
  const failure = state.classifier.classifyQueryError(error);
  if (!failure.lost) throw error;
  state.stats.disconnects++;
  evict(state, query.connection);
  const { transaction } = query.options;
  if (transaction) {
    if (state.classifier.isRollback(sql)) {
      // PostgreSQL aborts an open transaction when its session ends: the rollback has happened.
      debug('rollback on a lost connection: the server rolled the transaction back with the session');
      return ROLLED_BACK_WITH_SESSION;
    }
    // Only the statement that opens a transaction may move to a new connection: nothing ran yet.
    if (transaction.parent || !state.classifier.isTransactionStart(sql)) {
      const commit = state.classifier.isCommit(sql);
      throw giveUp(state, operationOf(query.options), error, sql, commit && failure.mayHaveRun ? 'commit-outcome-unknown' : 'in-transaction', {
        mayHaveExecuted: commit && failure.mayHaveRun,
        transactionLost: true,
      });
    }
  }
  const op = operationOf(query.options);
  op.mayHaveRun ||= failure.mayHaveRun;
  // A BEGIN that may have reached a session that is now gone left nothing behind.
  return retryStatement(state, query, op, sql, error, runAgain, !!transaction);
}

async function retryStatement(
  state: PluginState,
  query: QueryLike,
  op: Operation,
  sql: string,
  firstError: unknown,
  runAgain: () => Promise<unknown>,
  harmless: boolean,
): Promise<unknown> {
  const { options: settings, stats, connectionManager: cm } = state;
  const { options } = query;
  const transaction = options.transaction ?? undefined;
  const perCall = options.reconnect;
  const retries = perCall === false ? 0 : (perCall?.retries ?? settings.retries);
  const isRead = READ_TYPES.has(options.type ?? '');
  const idempotent = harmless || (perCall !== false && perCall?.idempotent === true);
  const model = options.model as ModelStatic<Model> | undefined;
  let error = firstError;
  let owned: Connection | undefined;
  op.recovering = true;
  try {
    for (;;) {
      const statementAllows = statementRetryable({ mayHaveRun: op.mayHaveRun, isRead, idempotent, retryWrites: settings.retryWrites });
      const allowed =
        statementAllows === true
          ? budgetAllows({ retriesMade: op.retriesMade, retries, remainingMs: remainingMs(op, settings.deadlineMs) })
          : statementAllows;
      if (allowed !== true) throw giveUp(state, op, error, sql, allowed);

      op.retriesMade++;
      stats.retries++;
      const acquireOptions: AcquireOptions = transaction
        ? { uuid: transaction.id, type: transaction.options.readOnly ? 'SELECT' : undefined, [kOperation]: op }
        : options;
      const context: ReconnectContext = {
        error: asError(error),
        attempt: op.retriesMade,
        phase: 'query',
        config: configFor(state, acquireOptions),
        sql,
        model,
        transaction,
      };
      debug(`connection lost under a statement: ${state.redact(context.error.message)}; retry ${op.retriesMade} of ${retries}`);
      await hook(state, op, error, sql, 'beforeReconnect', context);
      // A zero delay still yields once to I/O, so that connections that died with this one
      // (a failover, a proxy restart) report their close and leave the pool before we pick a
      // replacement; but no timer: even setTimeout(0) costs a millisecond or more.
      const delay = Math.min(backoffDelay(op.retriesMade, settings.backoff, true), Math.max(0, remainingMs(op, settings.deadlineMs)));
      await (delay > 0 ? sleep(delay) : yieldToIo());

      let connection: Connection;
      try {
        connection = await cm.getConnection(acquireOptions);
      } catch (reconnectError) {
        stats.reconnectFailures++;
        await hook(state, op, reconnectError, sql, 'afterReconnect', { ...context, reconnected: false, reconnectError: asError(reconnectError) });
        const reason = reconnectError instanceof ConnectionLostError ? reconnectError.reason : 'retries-exhausted';
        throw giveUp(state, op, reconnectError instanceof ConnectionLostError ? reconnectError.parent : reconnectError, sql, reason);
      }
      stats.reconnects++;
      if (transaction) {
        transaction.connection = connection;
        connection.uuid = transaction.id;
      } else {
        owned = connection;
      }
      query.connection = connection;
      await hook(state, op, error, sql, 'afterReconnect', { ...context, reconnected: true });

      try {
        const result = await runAgain();
        stats.retriesSucceeded++;
        debug(`statement succeeded on retry ${op.retriesMade}`);
        return result;
      } catch (retryError) {
        const failure = state.classifier.classifyQueryError(retryError);
        if (!failure.lost) throw retryError;
        stats.disconnects++;
        evict(state, connection);
        owned = undefined;
        op.mayHaveRun ||= failure.mayHaveRun;
        error = retryError;
      }
    }
  } finally {
    op.recovering = false;
    // Sequelize releases the connection it acquired (now destroyed, so that is a no-op); the
    // replacement is ours to give back.
    if (owned) cm.releaseConnection(owned);
  }
}

async function hook(
  state: PluginState,
  op: Operation,
  error: unknown,
  sql: string,
  name: 'beforeReconnect' | 'afterReconnect',
  context: ReconnectContext | AfterReconnectContext,
): Promise<void> {
  try {
    await runReconnectHook(state.sequelize, name, context);
  } catch (hookError) {
    throw giveUp(state, op, error, sql, 'hook-failed', { hookError });
  }
}

interface GiveUpDetails {
  mayHaveExecuted?: boolean;
  transactionLost?: boolean;
  hookError?: unknown;
}

function giveUp(state: PluginState, op: Operation, error: unknown, sql: string, reason: GiveUpReason, details: GiveUpDetails = {}): ConnectionLostError {
  if (op.final instanceof ConnectionLostError && op.final.phase === 'query') return op.final;
  if (op.retriesMade > 0) state.stats.retriesFailed++;
  else state.stats.notRetried++;
  const final = new ConnectionLostError(
    asError(error),
    {
      phase: 'query',
      mayHaveExecuted: details.mayHaveExecuted ?? op.mayHaveRun,
      transactionLost: details.transactionLost ?? false,
      attempts: op.retriesMade + 1,
      reason,
      sql,
      hookError: details.hookError,
    },
    state.redact,
  );
  debug(`giving up: ${final.message}`);
  op.final = final;
  return final;
}

/**
 * A connection found dead is never handed out again: marked invalid (Sequelize's pool validates
 * idle connections with this flag) and destroyed now, so the caller's later release is a no-op.
 */
export function evict(state: PluginState, connection: Connection): void {
  connection._invalid = true;
  state.connectionManager.destroyConnection(connection).catch(() => {});
}
