import type { Model, ModelStatic } from 'sequelize';
import { nextStep, type GiveUpReason, type Step } from '../core/decide';
import type { QueryFailure, ReconnectFailure } from '../core/failure';
import { modelOf, policyFor, type Policy } from '../core/policy';
import { ConnectionLostError } from '../errors';
import type { ReconnectContext } from '../hooks';
import { discard, refusedBySession } from './checkout';
import { acquireFor } from './connect';
import { giveUp } from './give-up';
import { operationFor, remainingMs, type Operation } from './operation';
import type { Connection, QueryLike, TransactionLike } from './port';
import { callAgain, type DriverCall } from './driver-call';
import { recover, type Outcome, type Phase } from './recover';
import { asError, configFor, noteFailedIn, poolOf, type Engine } from './state';
import { lostOutcome } from './settle-commit';
import { runVerified, verifies } from './verified';

/**
 * A statement failed. Not a lost connection: its error, untouched. Lost: the connection is
 * discarded, and the statement run again on a new one where that cannot corrupt data (reads,
 * statements marked idempotent, writes certainly not sent; in a transaction only the statement
 * that opens it), within the operation's budget; otherwise a `ConnectionLostError`. Watched at
 * the driver (`driver`, its call), it is run again there and settles to a driver's result.
 */
export async function statementFailed(
  engine: Engine,
  query: QueryLike,
  sql: string,
  parameters: unknown,
  error: unknown,
  driver?: DriverCall,
): Promise<unknown> {
  const { classifier } = engine.dialect;
  const failure = classifier.classifyQueryError(error);
  const transaction = query.options.transaction ?? undefined;
  if (!failure.lost) throw noteFailedIn(engine, error, transaction);
  if (failure.readOnlyServer && (await refusedBySession(engine, query.connection, !!transaction))) throw error;
  engine.stats.note('disconnects');
  const lost = query.connection;
  // Outside a transaction: the operation its connection was acquired for (Sequelize's own retry acquires with the same options).
  const acquiredWith = transaction ? undefined : engine.connections.records.get(lost)?.checkedOutWith;
  const op = operationFor(engine.operations, acquiredWith ?? query.options);
  discard(engine, lost, failure.readOnlyServer ? 'read-only' : 'dead');
  if (transaction) {
    if (classifier.isRollback(sql)) {
      // The server aborts an open transaction when its session ends: the rollback has happened.
      engine.host.debug('rollback on a lost connection: the server rolled the transaction back with the session');
      return driver ? engine.dialect.driverStatements!.rolledBack() : engine.dialect.rolledBackResult();
    }
    // Only the statements that open a transaction may move to a new connection: nothing ran yet.
    if (transaction.parent || !classifier.isTransactionStart(sql) || engine.transactions.underway.has(transaction)) {
      // A lost COMMIT whose transaction's id was learned is settled: committed, it succeeds.
      const lostAt = await lostOutcome(engine, op, query, error, classifier.isCommit(sql) && failure.mayHaveRun);
      if (lostAt.done) return lostAt.value;
      const commitUnknown = lostAt.mayHaveRun;
      throw giveUp(engine, op, {
        phase: 'query',
        reason: commitUnknown ? 'commit-outcome-unknown' : 'in-transaction',
        cause: engine.host.formatError(query, error),
        sql,
        mayHaveExecuted: commitUnknown,
        transactionLost: true,
        transaction,
      });
    }
  }
  const lostAt = await lostOutcome(engine, op, query, error, failure.mayHaveRun);
  if (lostAt.done) return lostAt.value;
  op.mayHaveRun ||= lostAt.mayHaveRun;
  op.cause = error;
  const phase = new StatementPhase(engine, op, query, sql, parameters, driver, failure, error);
  op.recovering = true;
  try {
    return await recover(engine, phase, error);
  } finally {
    op.recovering = false;
    phase.releaseOwned();
  }
}

class StatementPhase implements Phase<unknown> {
  readonly name = 'query';
  readonly immediateFirst = true;
  readonly retries: number;
  readonly deadlineMs: number;
  readonly backoff: Policy['backoff'];
  private readonly settings: Policy;
  private readonly transaction: TransactionLike | undefined;
  private readonly model: ModelStatic<Model> | undefined;
  private readonly isRead: boolean;
  private lost: Connection;
  private failure: ReconnectFailure;
  private error: unknown;
  /** The replacement connection, ours to release (a transaction's belongs to the transaction). */
  private owned: Connection | undefined;

  constructor(
    private readonly engine: Engine,
    readonly op: Operation,
    private readonly query: QueryLike,
    private readonly sql: string,
    private readonly parameters: unknown,
    private readonly driver: DriverCall | undefined,
    failure: QueryFailure & { lost: true },
    error: unknown,
  ) {
    this.settings = policyFor(engine.policies, query.options);
    ({ retries: this.retries, deadlineMs: this.deadlineMs, backoff: this.backoff } = this.settings);
    this.transaction = query.options.transaction ?? undefined;
    this.model = modelOf(query.options) as ModelStatic<Model> | undefined;
    this.isRead = engine.host.isRead(query.options.type);
    this.lost = query.connection;
    this.failure = failure.readOnlyServer ? 'read-only' : 'lost';
    this.error = error;
  }

  assess(): { step: Step; failure: ReconnectFailure } {
    const { engine, op, settings } = this;
    const step = nextStep({
      phase: 'query',
      closed: engine.closed,
      statement: {
        mayHaveRun: op.mayHaveRun,
        isRead: this.isRead,
        // A BEGIN that may have reached a session that is now gone left nothing behind.
        idempotent: !!this.transaction || settings.idempotent,
        retryWrites: settings.retryWrites,
      },
      budget: () => ({
        retriesMade: op.retriesMade,
        retries: this.retries,
        remainingMs: remainingMs(op, this.deadlineMs, engine.clock.now()),
      }),
    });
    return { step, failure: this.failure };
  }

  retryNow(): Promise<unknown> {
    return Promise.reject(new Error('a statement is never retried outside its budget'));
  }

  context(error: unknown, failure: ReconnectFailure): ReconnectContext {
    const { engine, lost } = this;
    const pool = poolOf(lost);
    const config = configFor(engine, pool, lost);
    return {
      error: asError(error),
      attempt: this.op.retriesMade,
      phase: 'query',
      failure,
      config,
      pool: engine.host.replicated ? pool : undefined,
      host: config.host,
      sql: this.sql,
      model: this.model,
      transaction: this.transaction as ReconnectContext['transaction'],
    };
  }

  reconnect(): Promise<Connection> {
    const { transaction } = this;
    return acquireFor(this.engine, this.op, transaction ? this.engine.host.transactionAcquireOptions(transaction) : this.query.options);
  }

  reconnectFailed(reconnectError: unknown): never {
    // Our connect phase gives up with a ConnectionLostError; after close(), Sequelize's own
    // getConnection refuses with a plain Error.
    if (reconnectError instanceof ConnectionLostError) throw this.giveUp(reconnectError.reason, undefined, reconnectError.cause);
    throw this.giveUp(this.engine.closed ? 'closed' : 'not-retryable');
  }

  install(connection: Connection): void {
    const { transaction } = this;
    this.engine.host.debug(`reconnected: a new connection for retry ${this.op.retriesMade}`);
    if (transaction) {
      transaction.connection = connection;
      connection.uuid = transaction.id;
    } else {
      this.owned = connection;
    }
    this.query.connection = connection;
  }

  /** Installed already: released with the operation. */
  abandon(): void {}

  async finish(connection: Connection): Promise<Outcome<unknown>> {
    const { engine, op } = this;
    try {
      const value = await this.runWithinDeadline(connection);
      engine.stats.note('retriesSucceeded');
      engine.host.debug(`statement succeeded on retry ${op.retriesMade}`);
      return { done: true, value };
    } catch (retryError) {
      const failure = engine.dialect.classifier.classifyQueryError(retryError);
      if (!failure.lost) throw retryError;
      engine.stats.note('disconnects');
      discard(engine, connection, failure.readOnlyServer ? 'read-only' : 'dead');
      this.lost = connection;
      this.owned = undefined;
      const lostAt = await lostOutcome(engine, op, this.query, retryError, failure.mayHaveRun);
      if (lostAt.done) return { done: true, value: lostAt.value };
      op.mayHaveRun ||= lostAt.mayHaveRun;
      op.cause = retryError;
      this.error = retryError;
      this.failure = failure.readOnlyServer ? 'read-only' : 'lost';
      return { done: false, error: retryError };
    }
  }

  /**
   * Past the operation's deadline the retried statement's connection is closed under it, which
   * fails it like any lost connection; the loop then gives up with `deadline-exceeded` (and
   * `mayHaveExecuted`, since it was sent). Nothing the plugin starts outlives the deadline.
   */
  private async runWithinDeadline(connection: Connection): Promise<unknown> {
    const { engine, op } = this;
    const cancel = engine.clock.setTimer(
      () => {
        connection._invalid = true;
        engine.host.destroy(connection);
      },
      Math.max(0, remainingMs(op, this.deadlineMs, engine.clock.now())),
    );
    try {
      const { query, sql, parameters, driver } = this;
      // What the lost connection held for the transaction about to start (MySQL's isolation level).
      const prelude = this.transaction && engine.dialect.transactionPrelude?.(sql, this.transaction);
      if (driver) return await callAgain(engine, connection, driver, prelude);
      if (prelude) await engine.host.runAgain(query, prelude, undefined);
      const again = () => engine.host.runAgain(query, sql, parameters);
      return await (verifies(engine, query, sql) ? runVerified(engine, query, again) : again());
    } finally {
      cancel();
    }
  }

  giveUp(reason: GiveUpReason, hookError?: unknown, cause?: unknown): Error {
    // The driver's error as Sequelize wraps it, like every `parent` of Sequelize's own errors.
    const parent = this.engine.host.formatError(this.query, cause ?? this.error);
    return giveUp(this.engine, this.op, { phase: 'query', reason, cause: parent, sql: this.sql, hookError });
  }

  /** Sequelize releases the connection it acquired (destroyed, so a no-op); the replacement is ours. */
  releaseOwned(): void {
    if (this.owned) this.engine.host.release(this.owned);
  }
}
