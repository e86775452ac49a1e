import type { Model, ModelStatic } from 'sequelize';
import { nextStep, type Step } from '../core/decide';
import type { QueryFailure, ReconnectFailure } from '../core/failure';
import { modelOf, policyFor, type Policy } from '../core/policy';
import { ConnectionLostError } from '../errors';
import type { ReconnectContext } from '../hooks';
import { refusedBySession } from './checkout';
import { discard } from './discard';
import { acquireFor } from './connect';
import { giveUp } from './give-up';
import { operationFor, remainingMs, type Operation } from './operation';
import type { AcquireOptions, Connection, QueryLike, TransactionLike } from './port';
import { runAgain, type DriverCall } from './driver-call';
import { publishLost, publishRecovered } from './events';
import { retry, type GiveUpWith, type RetryAbout, type RetryPlan } from './retry';
import { configFor, configOf, noteFailedIn, type Engine } from './state';
import { lostOutcome } from './settle-commit';
import { WatchedRecord, type SilenceWatch } from './silence';

/**
 * A statement failed. Not a lost connection: its error, untouched. Lost: the connection is
 * discarded, and the statement run again on a new one where that cannot corrupt data (reads,
 * statements marked idempotent, writes certainly not sent; in a transaction only the statement
 * that opens it), within the operation's budget; otherwise a `ConnectionLostError`. Watched at
 * the driver (`driver`, its call), it is run again there; `silence` watches it run again.
 */
export async function statementFailed(
  engine: Engine,
  silence: SilenceWatch | undefined,
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
  // A ROLLBACK on a lost connection has nothing to recover (the server rolled back): not reported as a loss.
  const lostPhase = !transaction ? 'query' : classifier.isCommit(sql) ? 'commit' : classifier.isRollback(sql) ? undefined : 'transaction';
  if (lostPhase) publishLost(engine, lostPhase, failure.readOnlyServer ? 'read-only' : 'lost', error, configOf(engine, lost));
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
      const lostAt = await lostOutcome(engine, silence, op, query, error, classifier.isCommit(sql) && failure.mayHaveRun);
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
        config: configOf(engine, lost),
      });
    }
  }
  const lostAt = await lostOutcome(engine, silence, op, query, error, failure.mayHaveRun);
  if (lostAt.done) return lostAt.value;
  op.mayHaveRun ||= lostAt.mayHaveRun;
  op.commitUnknown ||= lostAt.commitUnknown;
  op.cause = error;
  const recovery = new StatementRecovery(engine, silence, op, query, sql, parameters, driver, failure, error);
  op.recovering = true;
  try {
    return await recovery.run();
  } finally {
    op.recovering = false;
    recovery.releaseOwned();
  }
}

/** One lost statement, run again on new connections while its operation's budget allows. */
class StatementRecovery {
  private readonly plan: RetryPlan;
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
    private readonly silence: SilenceWatch | undefined,
    private readonly op: Operation,
    private readonly query: QueryLike,
    private readonly sql: string,
    private readonly parameters: unknown,
    private readonly driver: DriverCall | undefined,
    failure: QueryFailure & { lost: true },
    error: unknown,
  ) {
    this.settings = policyFor(engine.policies, query.options);
    const { retries, deadlineMs, backoff } = this.settings;
    this.transaction = query.options.transaction ?? undefined;
    this.isRead = engine.host.isRead(query.options.type);
    const operation = this.transaction ? 'transaction' : this.isRead ? 'read' : 'write';
    this.plan = { name: 'query', retries, deadlineMs, backoff, immediateFirst: true, operation };
    this.model = modelOf(query.options) as ModelStatic<Model> | undefined;
    this.lost = query.connection;
    this.failure = failure.readOnlyServer ? 'read-only' : 'lost';
    this.error = error;
  }

  async run(): Promise<unknown> {
    const { engine, op, plan } = this;
    for (;;) {
      const step = this.decide();
      if (step.action !== 'retry') throw this.giveUp(step.action === 'give-up' ? step.reason : 'not-retryable');
      const next = await retry(engine, op, plan, this.about(), this.error, acquireFor, this.acquireOptions(), this.giveUp);
      // Our connect phase gives up with a ConnectionLostError; after close(), Sequelize's own getConnection refuses with a plain Error.
      if ('failed' in next) {
        if (next.failed instanceof ConnectionLostError) throw this.giveUp(next.failed.reason, undefined, next.failed.cause);
        throw this.giveUp(engine.closed ? 'closed' : 'not-retryable');
      }
      const { connection, context } = next;
      engine.host.debug(`reconnected: a new connection for retry ${op.retriesMade}`);
      if (!this.transaction) this.owned = connection;
      engine.host.moveStatement(this.query, connection);
      try {
        const value = await this.runWithinDeadline(connection);
        engine.stats.note('retriesSucceeded');
        publishRecovered(engine, op, context.config);
        engine.host.debug(`statement succeeded on retry ${op.retriesMade}`);
        return value;
      } catch (retryError) {
        const failure = engine.dialect.classifier.classifyQueryError(retryError);
        if (!failure.lost) throw retryError;
        engine.stats.note('disconnects');
        this.failure = failure.readOnlyServer ? 'read-only' : 'lost';
        publishLost(engine, this.transaction ? 'transaction' : 'query', this.failure, retryError, configOf(engine, connection));
        discard(engine, connection, failure.readOnlyServer ? 'read-only' : 'dead');
        this.lost = connection;
        this.owned = undefined;
        const lostAt = await lostOutcome(engine, this.silence, op, this.query, retryError, failure.mayHaveRun);
        if (lostAt.done) return lostAt.value;
        op.mayHaveRun ||= lostAt.mayHaveRun;
        op.commitUnknown ||= lostAt.commitUnknown;
        op.cause = retryError;
        this.error = retryError;
      }
    }
  }

  private decide(): Step {
    const { engine, op, settings } = this;
    return nextStep({
      phase: 'query',
      closed: engine.closed,
      statement: {
        mayHaveRun: op.mayHaveRun,
        commitUnknown: op.commitUnknown,
        isRead: this.isRead,
        // A BEGIN that may have reached a session that is now gone left nothing behind.
        idempotent: !!this.transaction || settings.idempotent,
        retryWrites: settings.retryWrites,
      },
      budget: { spent: op, limits: this.plan, now: engine.clock.now() },
    });
  }

  private about(): RetryAbout {
    const { engine, lost } = this;
    const pool = engine.host.poolOf(lost);
    const config = configFor(engine, pool, lost);
    return {
      phase: 'query',
      failure: this.failure,
      config,
      pool: engine.host.replicated ? pool : undefined,
      host: config.host,
      sql: this.sql,
      model: this.model,
      transaction: this.transaction as ReconnectContext['transaction'],
    };
  }

  /** A transaction's statement gets a connection as Sequelize gets one for a transaction. */
  private acquireOptions(): AcquireOptions {
    const { transaction } = this;
    return transaction ? this.engine.host.transactionAcquireOptions(transaction) : this.query.options;
  }

  /**
   * Past the operation's deadline the retried statement's connection is closed under it, which
   * fails it like any lost connection; the loop then gives up with `deadline-exceeded` (and
   * `mayHaveExecuted`, since it was sent). Nothing the plugin starts outlives the deadline.
   * Watched for silence too (a record of its own: retries are rare), well before that.
   */
  private async runWithinDeadline(connection: Connection): Promise<unknown> {
    const { engine, op, silence } = this;
    const cancel = engine.clock.setTimer(
      () => {
        engine.host.invalidate(connection);
        engine.host.destroy(connection);
      },
      Math.max(0, remainingMs(op, this.plan.deadlineMs, engine.clock.now())),
    );
    const watched = new WatchedRecord();
    silence?.start(watched, connection);
    try {
      const { query, sql, parameters, driver, transaction } = this;
      return await runAgain(engine, connection, { query, sql, parameters, driver, transaction });
    } finally {
      cancel();
      silence?.end(watched);
    }
  }

  private readonly giveUp: GiveUpWith = (reason, hookError, cause) => {
    // The driver's error as Sequelize wraps it, like every `parent` of Sequelize's own errors.
    const parent = this.engine.host.formatError(this.query, cause ?? this.error);
    const g = { phase: 'query', reason, cause: parent, sql: this.sql, hookError, config: configOf(this.engine, this.lost) } as const;
    return giveUp(this.engine, this.op, g);
  };

  /** Sequelize releases the connection it acquired (destroyed, so a no-op); the replacement is ours. */
  releaseOwned(): void {
    if (this.owned) this.engine.host.release(this.owned);
  }
}
