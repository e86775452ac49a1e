import type { DriverCallback, DriverTap } from '../dialects/types';
import type { FreeList } from './free-list';
import type { QueryLike } from './port';
import { WatchedRecord, type SilenceWatch } from './silence';
import type { Engine } from './state';
import { statementFailed } from './statement';

/**
 * Watching statements at the driver (dialects with `driverStatements`): Sequelize's `run` makes
 * its driver call synchronously, with a callback; the patch arms the tap, the driver connection
 * swaps that callback for a watcher's. A statement that succeeds costs no allocation: watchers
 * come from a free list, each carrying one statement's data while its call is pending. One that
 * fails goes to `statementFailed`, and what it settles to reaches Sequelize's callback: a result,
 * the driver's own error, or a `ConnectionLostError`. Sequelize's `run` then formats a driver
 * error as it formats any other, with the caller's stack, in its own `catch` (its `formatError`
 * throws for some errors). `done` runs inside the driver's event handler: nothing may throw there.
 */
class Watcher extends WatchedRecord {
  query: QueryLike | undefined = undefined;
  sql = '';
  values: unknown = undefined;
  callback: DriverCallback | undefined = undefined;
  nextFree: Watcher | undefined = undefined;

  constructor(
    private readonly engine: Engine,
    private readonly free: FreeList<Watcher>,
    private readonly silence: SilenceWatch | undefined,
  ) {
    super();
  }

  readonly done = (error: unknown, result?: unknown): void => {
    const { engine, query, sql, values, callback } = this;
    this.silence?.end(this);
    this.query = this.values = this.callback = undefined;
    this.nextFree = this.free.head;
    this.free.head = this;
    if (!error) {
      try {
        noteUnderway(engine, query!, sql);
      } catch (noteError) {
        callback!(noteError);
        return;
      }
      callback!(null, result);
      return;
    }
    // An async function: whatever goes wrong in it becomes its rejection, never a throw here.
    // The driver's config is the SQL itself (`take` watches no other call).
    statementFailed(engine, this.silence, query!, sql, values, error, { config: sql, values }).then(
      (value) => callback!(null, value),
      (failure: unknown) => callback!(failure),
    );
  };
}

/** Once a transaction has run a statement that does not open it, later statements cost one lookup. */
export function noteUnderway(engine: Engine, query: QueryLike, sql: string): void {
  const transaction = query.options.transaction;
  const underway = engine.transactions.underway;
  if (transaction && !underway.has(transaction) && !engine.dialect.classifier.isTransactionStart(sql)) underway.add(transaction);
}

export class Tap implements DriverTap {
  armed = false;
  private query: QueryLike | undefined = undefined;
  private sql: unknown = undefined;
  private readonly free: FreeList<Watcher> = { head: undefined };
  constructor(
    private readonly engine: Engine,
    /** The instance's watchdog for statements gone silent, where the dialect can ask the server about them. */
    private readonly silence: SilenceWatch | undefined,
  ) {}

  /** The statement `query` is about to make its driver call with `sql` (Sequelize's run noted it). */
  arm(query: QueryLike, sql: unknown): void {
    this.armed = true;
    this.query = query;
    this.sql = sql;
  }

  take(connection: unknown, config: unknown, values: unknown, callback: DriverCallback): DriverCallback {
    const { query, sql } = this;
    this.armed = false;
    this.query = this.sql = undefined;
    // Only the call the statement armed for: its connection, its SQL.
    if (query?.connection !== connection || sql !== config || typeof sql !== 'string') return callback;
    let watcher = this.free.head;
    if (watcher) this.free.head = watcher.nextFree;
    else watcher = new Watcher(this.engine, this.free, this.silence);
    watcher.query = query;
    watcher.sql = sql;
    watcher.values = values;
    watcher.callback = callback;
    this.silence?.start(watcher, connection);
    return watcher.done;
  }
}
