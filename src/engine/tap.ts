import type { DriverCallback, DriverTap } from '../dialects/types';
import type { QueryLike } from './port';
import type { Engine } from './state';
import { statementFailed } from './statement';

/**
 * Watching statements at the driver (dialects with `driverStatements`): Sequelize's `run` makes
 * its driver call synchronously, with a callback; the patch arms the tap, the driver connection
 * swaps that callback for a watcher's. A statement that succeeds costs no allocation: watchers
 * come from a free list, each carrying one statement's data while its call is pending. One that
 * fails goes to `statementFailed`, and what it settles to reaches Sequelize's callback, so that
 * Sequelize's `run` formats a recovered result (or a driver error) as it formats any other.
 */
class Watcher {
  query: QueryLike | undefined = undefined;
  sql = '';
  parameters: unknown = undefined;
  config: unknown = undefined;
  values: unknown = undefined;
  callback: DriverCallback | undefined = undefined;

  constructor(
    private readonly engine: Engine,
    private readonly free: Watcher[],
  ) {}

  readonly done = (error: unknown, result?: unknown): void => {
    const { engine, query, sql, parameters, config, values, callback } = this;
    this.query = this.parameters = this.config = this.values = this.callback = undefined;
    this.free.push(this);
    if (!error) {
      noteUnderway(engine, query!, sql);
      callback!(null, result);
      return;
    }
    // Formatted as Sequelize's `run` would have (it passes Sequelize's errors on as they are).
    const failed = engine.host.formatError(query!, error, { sql: config, parameters });
    statementFailed(engine, query!, sql, parameters, failed, { config, values }).then(
      (value) => callback!(null, value),
      (failure: unknown) => callback!(failure),
    );
  };
}

/** Once a transaction has run a statement that does not open it, later statements cost one lookup. */
export function noteUnderway(engine: Engine, query: QueryLike, sql: string): void {
  const transaction = query.options.transaction;
  const underway = engine.transactionsUnderway;
  if (transaction && !underway.has(transaction) && !engine.dialect.classifier.isTransactionStart(sql)) underway.add(transaction);
}

export class Tap implements DriverTap {
  armed = false;
  private query: QueryLike | undefined = undefined;
  private sql = '';
  private parameters: unknown = undefined;
  private readonly free: Watcher[] = [];

  constructor(private readonly engine: Engine) {}

  /** The statement `query` runs (`sql` as Sequelize's `run` got it) is about to call its driver. */
  arm(query: QueryLike, sql: string, parameters: unknown): void {
    this.armed = true;
    this.query = query;
    this.sql = sql;
    this.parameters = parameters;
  }

  /** Its `run` returned: true when no driver call took the tap (it is then watched another way). */
  disarm(): boolean {
    const untaken = this.armed;
    this.armed = false;
    this.query = this.parameters = undefined;
    return untaken;
  }

  take(config: unknown, values: unknown, callback: DriverCallback): DriverCallback {
    const watcher = this.free.pop() ?? new Watcher(this.engine, this.free);
    watcher.query = this.query;
    watcher.sql = this.sql;
    watcher.parameters = this.parameters;
    watcher.config = config;
    watcher.values = values;
    watcher.callback = callback;
    this.armed = false;
    this.query = this.parameters = undefined;
    return watcher.done;
  }
}
