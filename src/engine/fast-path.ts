import { validateTransactionOption } from '../core/options';
import { checkOptions } from '../core/policy';
import { isReplayable, replayTransaction, type ReplayRules, type ReplayRun } from './replay';
import { checkedOut } from './checkout';
import { acquireFor, connectFailed } from './connect';
import type { AcquireOptions, Connection, QueryLike } from './port';
import type { Engine } from './state';
import { statementFailed } from './statement';
import { runVerified, runVerifiedCommit, verifies, verifiesCommit } from './verified';

/**
 * What an operation that succeeds costs: one promise reaction on the connection it gets, one on
 * its statement, and no other allocation. The reaction handlers need the operation's options
 * (or query) only when something fails; rather than a closure per operation, they come from a
 * free list of handler pairs, each carrying one operation's data while its promise is pending.
 */

class Acquisition {
  options: AcquireOptions | undefined = undefined;
  constructor(
    private readonly engine: Engine,
    private readonly free: Acquisition[],
  ) {}

  readonly fulfilled = (connection: Connection): Connection | Promise<Connection> => {
    const options = this.take();
    const ready = checkedOut(this.engine, options, connection);
    // A connection replaced at checkout: a failure to get its replacement is recovered from.
    return ready instanceof Promise ? ready.catch((error: unknown) => connectFailed(this.engine, options, error)) : ready;
  };

  readonly rejected = (error: unknown): Promise<Connection> => connectFailed(this.engine, this.take(), error);

  private take(): AcquireOptions {
    const options = this.options!;
    this.options = undefined;
    this.free.push(this);
    return options;
  }
}

class Running {
  query: QueryLike | undefined = undefined;
  sql = '';
  parameters: unknown = undefined;
  constructor(
    private readonly engine: Engine,
    private readonly free: Running[],
  ) {}

  readonly fulfilled = (result: unknown): unknown => {
    const transaction = this.query?.options.transaction;
    const { transactionsUnderway: underway, dialect } = this.engine;
    // Once underway, a transaction's later statements cost one lookup, not a parse of their SQL.
    if (transaction && !underway.has(transaction) && !dialect.classifier.isTransactionStart(this.sql)) underway.add(transaction);
    this.release();
    return result;
  };

  private release(): void {
    this.query = undefined;
    this.parameters = undefined;
    this.free.push(this);
  }

  readonly rejected = (error: unknown): Promise<unknown> => {
    const { query, sql, parameters } = this;
    this.release();
    return statementFailed(this.engine, query!, sql, parameters, error);
  };
}

export interface FastPath {
  /** `connectionManager.getConnection(options)`, through `acquireOnce` (Sequelize's own). */
  acquire(options: AcquireOptions): Promise<Connection>;
  /** Watches a statement's promise (Sequelize's `Query.run`) for a lost connection. */
  watch(query: QueryLike, sql: string, parameters: unknown, running: Promise<unknown>): Promise<unknown>;
  /**
   * Whether the engine wraps this statement: `'verified'`, a verified write (`retryWrites:
   * 'verified'`); `'commit'`, the COMMIT of a replayable transaction; else undefined.
   */
  wraps(query: QueryLike, sql: string): 'verified' | 'commit' | undefined;
  /** Verified: BEGIN with the transaction's ids, `run` (the statement), COMMIT. Commit: its ids, then `run`. */
  runWrapped(wrap: 'verified' | 'commit', query: QueryLike, run: () => Promise<unknown>): Promise<unknown>;
  /** What `sequelize.transaction({ reconnect }, callback)` is replayed on, if anything (validates `reconnect`). */
  replays(reconnect: unknown): ReplayRules | undefined;
  /** Marks a managed transaction as replayable: its COMMIT learns the transaction's id first. */
  replayable(transaction: object): void;
  /**
   * Runs `attempt` (a whole managed transaction), again when its own statements failed and it
   * certainly did not commit; `attempt` fills in its run (its Transaction, a COMMIT that succeeded).
   */
  replayTransaction<T>(rules: ReplayRules, attempt: (run: ReplayRun) => Promise<T>): Promise<T>;
  /** The failure leaves the transaction certainly not committed: a lost connection before COMMIT, or a conflict. */
  certainlyNotCommitted(error: unknown): boolean;
}

export function fastPath(engine: Engine): FastPath {
  const acquisitions: Acquisition[] = [];
  const runs: Running[] = [];
  return {
    acquire(options) {
      const op = engine.operations.get(options);
      // An operation that failed before: Sequelize's own retry, or a caller reusing options.
      if (op !== undefined) return acquireFor(engine, op, options);
      try {
        checkOptions(engine, options);
      } catch (error) {
        return Promise.reject(error);
      }
      const handlers = acquisitions.pop() ?? new Acquisition(engine, acquisitions);
      handlers.options = options;
      return engine.host.acquireOnce(options).then(handlers.fulfilled, handlers.rejected);
    },
    watch(query, sql, parameters, running) {
      const handlers = runs.pop() ?? new Running(engine, runs);
      handlers.query = query;
      handlers.sql = sql;
      handlers.parameters = parameters;
      return running.then(handlers.fulfilled, handlers.rejected);
    },
    wraps: (query, sql) => {
      if (query.options.transaction) return verifiesCommit(engine, query, sql) ? 'commit' : undefined;
      return verifies(engine, query, sql) ? 'verified' : undefined;
    },
    runWrapped: (wrap, query, run) => (wrap === 'commit' ? runVerifiedCommit(engine, query, run) : runVerified(engine, query, run)),
    replays: (reconnect) => {
      const own = validateTransactionOption(reconnect);
      const rules = { lost: own?.replay ?? engine.options.replayTransactions, conflicts: own?.conflicts ?? engine.options.replayConflicts };
      return rules.lost || rules.conflicts ? rules : undefined;
    },
    replayable: (transaction) => engine.replayable.add(transaction),
    replayTransaction: (rules, attempt) => replayTransaction(engine, rules, attempt),
    certainlyNotCommitted: (error) => isReplayable(error) || engine.dialect.classifier.isConflict(error),
  };
}
