import type { Model, ModelStatic, Transaction } from 'sequelize';
import { backoffDelay } from '../backoff';
import { budgetAllows, statementRetryable, type GiveUpReason } from '../decide';
import { ConnectionLostError } from '../errors';
import { runReconnectHook, type AfterReconnectContext, type ReconnectContext } from '../hooks';
import { debug } from '../log';
import { kOperation, operationOf, remainingMs, type Operation } from '../operation';
import { modelOf, policyFor } from '../policy';
import { configFor, poolOf, type AcquireOptions, type Connection, type PluginState } from '../state';
import { asError, backOff } from './connection-manager';
import { discard, retireOnRelease } from './pool';

/** Sequelize query types that only read. A raw `sequelize.query(sql)` is `RAW` and counts as a write. */
const READ_TYPES = new Set(['SELECT', 'SHOWTABLES', 'SHOWINDEXES', 'DESCRIBE', 'VERSION', 'FOREIGNKEYS', 'SHOWCONSTRAINTS']);

interface QueryOptions extends AcquireOptions {
  transaction?: (Transaction & { parent?: Transaction; id: string; connection: Connection; options: { readOnly?: boolean } }) | null;
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

async function recover(
  state: PluginState,
  query: QueryLike,
  sql: string,
  error: unknown,
  runAgain: () => Promise<unknown>,
): Promise<unknown> {
  const failure = state.classifier.classifyQueryError(error);
  const { transaction } = query.options;
  if (!failure.lost) throw error;
  if (failure.readOnlyServer && transaction) {
    // In a transaction 25006 may be the caller's own `SET TRANSACTION READ ONLY`: not a lost
    // connection. It may also be a standby after a failover, so the connection is not reused.
    retireOnRelease(state, query.connection);
    throw error;
  }
  state.stats.disconnects++;
  const lost = query.connection;
  discard(state, lost, failure.readOnlyServer ? 'read-only' : 'dead');
  if (transaction) {
    if (state.classifier.isRollback(sql)) {
      // PostgreSQL aborts an open transaction when its session ends: the rollback has happened.
      debug('rollback on a lost connection: the server rolled the transaction back with the session');
      return ROLLED_BACK_WITH_SESSION;
    }
    // Only the statement that opens a transaction may move to a new connection: nothing ran yet.
    if (transaction.parent || !state.classifier.isTransactionStart(sql)) {
      const commit = state.classifier.isCommit(sql);
      throw giveUp(
        state,
        operationOf(query.options),
        error,
        sql,
        commit && failure.mayHaveRun ? 'commit-outcome-unknown' : 'in-transaction',
        {
          mayHaveExecuted: commit && failure.mayHaveRun,
          transactionLost: true,
        },
      );
    }
  }
  const op = operationOf(query.options);
  op.mayHaveRun ||= failure.mayHaveRun;
  op.cause = error;
  // A BEGIN that may have reached a session that is now gone left nothing behind.
  return retryStatement(state, query, op, sql, error, lost, runAgain, !!transaction);
}

async function retryStatement(
  state: PluginState,
  query: QueryLike,
  op: Operation,
  sql: string,
  firstError: unknown,
  firstLost: Connection,
  runAgain: () => Promise<unknown>,
  harmless: boolean,
): Promise<unknown> {
  const { stats, connectionManager: cm } = state;
  const { options } = query;
  const settings = policyFor(state, options);
  const { retries } = settings;
  const transaction = options.transaction ?? undefined;
  const isRead = READ_TYPES.has(options.type ?? '');
  const idempotent = harmless || settings.idempotent;
  const model = modelOf(options) as ModelStatic<Model> | undefined;
  let error = firstError;
  let lost = firstLost;
  let owned: Connection | undefined;
  op.recovering = true;
  try {
    for (;;) {
      if (state.closed) throw giveUp(state, op, error, sql, 'closed');
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
      const pool = poolOf(lost);
      const config = configFor(state, pool, lost);
      const context: ReconnectContext = {
        error: asError(error),
        attempt: op.retriesMade,
        phase: 'query',
        config,
        pool: cm.config.replication ? pool : undefined,
        host: config.host,
        sql,
        model,
        transaction,
      };
      debug(`connection lost under a statement: ${state.redact(context.error.message)}; retry ${op.retriesMade} of ${retries}`);
      await hook(state, op, error, sql, 'beforeReconnect', context);
      await backOff(
        state,
        Math.min(backoffDelay(op.retriesMade, settings.backoff, true), Math.max(0, remainingMs(op, settings.deadlineMs))),
      );

      let connection: Connection;
      try {
        connection = await cm.getConnection(acquireOptions);
      } catch (reconnectError) {
        stats.reconnectFailures++;
        await hook(state, op, reconnectError, sql, 'afterReconnect', {
          ...context,
          reconnected: false,
          reconnectError: asError(reconnectError),
        });
        // Our connect phase gives up with a ConnectionLostError; after close(), Sequelize's own
        // getConnection refuses with a plain Error.
        if (reconnectError instanceof ConnectionLostError) throw giveUp(state, op, reconnectError.cause, sql, reconnectError.reason);
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have come during the wait
        throw giveUp(state, op, error, sql, state.closed ? 'closed' : 'not-retryable');
      }
      stats.reconnects++;
      debug(`reconnected: a new connection for retry ${op.retriesMade}`);
      if (transaction) {
        transaction.connection = connection;
        connection.uuid = transaction.id;
      } else {
        owned = connection;
      }
      query.connection = connection;
      await hook(state, op, error, sql, 'afterReconnect', { ...context, reconnected: true });

      try {
        const result = await withinDeadline(state, connection, remainingMs(op, settings.deadlineMs), runAgain);
        stats.retriesSucceeded++;
        debug(`statement succeeded on retry ${op.retriesMade}`);
        return result;
      } catch (retryError) {
        const failure = state.classifier.classifyQueryError(retryError);
        if (!failure.lost) throw retryError;
        stats.disconnects++;
        discard(state, connection, failure.readOnlyServer ? 'read-only' : 'dead');
        lost = connection;
        owned = undefined;
        op.mayHaveRun ||= failure.mayHaveRun;
        op.cause = retryError;
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

/**
 * Runs a retried statement. Past the operation's deadline its connection is closed under it,
 * which fails it like any lost connection; the loop then gives up with `deadline-exceeded`
 * (and `mayHaveExecuted`, since it was sent). Nothing the plugin starts outlives the deadline.
 */
async function withinDeadline(state: PluginState, connection: Connection, ms: number, run: () => Promise<unknown>): Promise<unknown> {
  const timer = setTimeout(
    () => {
      connection._invalid = true;
      state.connectionManager.destroyConnection(connection).catch(() => {});
    },
    Math.max(0, ms),
  );
  try {
    return await run();
  } finally {
    clearTimeout(timer);
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

function giveUp(
  state: PluginState,
  op: Operation,
  error: unknown,
  sql: string,
  reason: GiveUpReason,
  details: GiveUpDetails = {},
): ConnectionLostError {
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
