import { replayRefusal, validateTransactionOption, type ReconnectTransactionOption } from '../core/options';
import { checkOptions } from '../core/policy';
import { settlingUnsupported } from '../dialects';
import { withCallerStack } from '../errors';
import { isReplayable, replayTransaction, type ReplayRules, type ReplayRun } from './replay';
import { checkedOut } from './checkout';
import type { FreeList } from './free-list';
import { acquireFor, connectFailed } from './connect';
import type { AcquireOptions, Connection, QueryLike } from './port';
import type { Engine } from './state';
import { statementFailed } from './statement';
import { SilenceWatch, WatchedRecord } from './silence';
import { noteUnderway, Tap } from './tap';
import { runVerified, runVerifiedCommit, verifies, verifiesCommit } from './verified';

/**
 * The engine's face toward host/: everything the patches on a Sequelize instance call.
 *
 * What an operation that succeeds costs. Its connection: nothing (the host's own acquire checks
 * it out inline, and recovers in its `catch`). Its statement: nothing where the dialect watches
 * statements at the driver (see tap.ts); elsewhere one promise reaction on Sequelize's `run`,
 * whose handlers come from a free list (each carrying one statement's data while pending)
 * rather than a closure per statement.
 */

function checkOut(engine: Engine, options: AcquireOptions, connection: Connection): Connection | Promise<Connection> {
  const ready = checkedOut(engine, options, connection);
  if (!(ready instanceof Promise)) return ready;
  // Replaced at checkout: a failure to get its replacement is recovered from, its deadline counted
  // from now, not from the start of an older attempt the pool may hand it (see connectFailed).
  const asked = askedAt(engine);
  return ready.catch((error: unknown) => connectFailed(engine, options, error, asked));
}

/** Also the silence watchdog's record of the statement, where it watches around `run` (see silence.ts). */
class Running extends WatchedRecord {
  query: QueryLike | undefined = undefined;
  sql = '';
  parameters: unknown = undefined;
  nextFree: Running | undefined = undefined;
  constructor(
    private readonly engine: Engine,
    private readonly free: FreeList<Running>,
    private readonly silence: SilenceWatch | undefined,
  ) {
    super();
  }

  readonly fulfilled = (result: unknown): unknown => {
    noteUnderway(this.engine, this.query!, this.sql);
    this.release();
    return result;
  };

  private release(): void {
    // A record never started is in no list: ending it only bumps its serial.
    this.silence?.end(this);
    this.query = undefined;
    this.parameters = undefined;
    this.nextFree = this.free.head;
    this.free.head = this;
  }

  readonly rejected = (error: unknown): Promise<unknown> => {
    const { query, sql, parameters } = this;
    this.release();
    // Sequelize's run gave `error` its caller's stack: so does a ConnectionLostError in its place.
    return statementFailed(this.engine, this.silence, query!, sql, parameters, error).catch((failure: unknown) => {
      throw withCallerStack(failure, error instanceof Error ? error.stack : undefined);
    });
  };
}

export interface Facade {
  /** `connectionManager.getConnection(options)`, through `acquireOnce` (Sequelize's own): the general path. */
  acquire(options: AcquireOptions): Promise<Connection>;
  /** These options' operation failed before (Sequelize's own retry, or a caller reusing options): the general path. */
  failedBefore(options: AcquireOptions): boolean;
  /** Throws a TypeError for a mistyped per-call or model option. */
  check(options: AcquireOptions): void;
  /** The host's own acquire got this connection: checked out (validated or replaced when suspect). */
  acquired(options: AcquireOptions, connection: Connection): Connection | Promise<Connection>;
  /** The host's own acquire failed: recovered from, or given up on. */
  acquireFailed(options: AcquireOptions, error: unknown, askedAt: number): Promise<Connection>;
  /** When a caller asks for a connection: what its deadline may count from (see `connectFailed`). */
  askedAt(): number;
  /** Watches a statement's promise (Sequelize's `Query.run`) for a lost connection, and for silence. */
  watch(query: QueryLike, sql: string, parameters: unknown, running: Promise<unknown>): Promise<unknown>;
  /** Where the dialect watches statements at the driver (`driverStatements`): the tap, else undefined. */
  readonly tap: Tap | undefined;
  /** Calls `listener` once statements may need wrapping: once a verified write or a replayable transaction is seen. */
  whenWrapping(listener: () => void): void;
  /**
   * Whether the engine wraps this statement: `'verified'`, a verified write (`retryWrites:
   * 'verified'`); `'commit'`, the COMMIT of a replayable transaction; else undefined.
   */
  wraps(query: QueryLike, sql: string): 'verified' | 'commit' | undefined;
  /** Verified: BEGIN with the transaction's ids, `run` (the statement), COMMIT. Commit: its ids, then `run`. */
  runWrapped(wrap: 'verified' | 'commit', query: QueryLike, run: () => Promise<unknown>): Promise<unknown>;
  /**
   * What `sequelize.transaction({ reconnect }, callback)` is replayed on, if anything. Throws a
   * TypeError for a `reconnect` that is mistyped or could never replay (`managed`: a callback was given).
   */
  replays(reconnect: unknown, managed: boolean): ReplayRules | undefined;
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

const PER_CALL_REPLAY = { lost: 'transaction option `reconnect.replay`', conflicts: 'transaction option `reconnect.conflicts`' };

/** Why a transaction's own `reconnect` could never replay it, if so. */
function transactionRefusal(engine: Engine, own: ReconnectTransactionOption, managed: boolean): string | undefined {
  if (!own.replay && !own.conflicts) return undefined;
  const name = `transaction option \`reconnect.${own.replay ? 'replay' : 'conflicts'}\``;
  if (!managed) {
    return `${name} replays a managed transaction only: pass a callback, sequelize.transaction({ reconnect }, async (t) => ...) (an unmanaged transaction is never replayed)`;
  }
  // As the plugin's replayTransactions / replayConflicts: refused at use() there.
  const unsupported = settlingUnsupported(engine.dialect, name);
  if (unsupported) return `${unsupported}: leave it out, and retry a transaction that fails with \`transactionLost: true\` yourself`;
  return replayRefusal(engine.options, own.replay, own.conflicts, PER_CALL_REPLAY);
}

/**
 * Only an attempt already under way when the caller asked can have begun before it: with none,
 * 0 (a small integer, not a boxed timestamp kept across the caller's await).
 */
function askedAt(engine: Engine): number {
  return engine.connections.attempts.size === 0 ? 0 : engine.clock.now();
}

export function createFacade(engine: Engine): Facade {
  const runs: FreeList<Running> = { head: undefined };
  const { silenceMs } = engine.options.hygiene;
  const probe = engine.dialect.silence;
  // With a tap, the tap watches for silence at the driver.
  // One watchdog per instance: the tap's statements at the driver, the others around `run`.
  const silence = probe && silenceMs !== false ? new SilenceWatch(engine, probe, silenceMs) : undefined;
  let wrapping = engine.policies.verifiedSeen;
  let onWrapping: (() => void) | undefined;
  const mayWrap = (): void => {
    if (wrapping) return;
    wrapping = true;
    onWrapping?.();
  };
  const check = (options: AcquireOptions): void => {
    checkOptions(engine.policies, options);
    if (engine.policies.verifiedSeen) mayWrap();
  };
  return {
    acquire(options) {
      const op = engine.operations.get(options);
      // An operation that failed before: Sequelize's own retry, or a caller reusing options.
      if (op !== undefined) return acquireFor(engine, op, options);
      try {
        check(options);
      } catch (error) {
        return Promise.reject(error);
      }
      const asked = askedAt(engine);
      return engine.host.acquireOnce(options).then(
        (connection) => checkOut(engine, options, connection),
        (error: unknown) => connectFailed(engine, options, error, asked),
      );
    },
    failedBefore: (options) => engine.operations.has(options),
    check,
    whenWrapping: (listener) => {
      if (wrapping) listener();
      else onWrapping = listener;
    },
    acquired: (options, connection) => checkOut(engine, options, connection),
    acquireFailed: (options, error, askedAt) => connectFailed(engine, options, error, askedAt),
    askedAt: () => askedAt(engine),
    tap: engine.dialect.driverStatements ? new Tap(engine, silence) : undefined,
    watch(query, sql, parameters, running) {
      let handlers = runs.head;
      if (handlers) runs.head = handlers.nextFree;
      else handlers = new Running(engine, runs, silence);
      handlers.query = query;
      handlers.sql = sql;
      handlers.parameters = parameters;
      // The driver call is made already (synchronously in Sequelize's `run`): the watchdog reads
      // the socket's bytes from its next tick on. A wrapped statement (a verified write: BEGIN,
      // the write, COMMIT) is watched as one: its round trips follow each other with no pause,
      // and bytes heard make the watchdog forget which statement the server was on.
      silence?.start(handlers, query.connection);
      return running.then(handlers.fulfilled, handlers.rejected);
    },
    wraps: (query, sql) => {
      if (query.options.transaction) return verifiesCommit(engine, query, sql) ? 'commit' : undefined;
      return verifies(engine, query, sql) ? 'verified' : undefined;
    },
    runWrapped: (wrap, query, run) => (wrap === 'commit' ? runVerifiedCommit(engine, query, run) : runVerified(engine, query, run)),
    replays: (reconnect, managed) => {
      const own = validateTransactionOption(reconnect);
      const refusal = own && transactionRefusal(engine, own, managed);
      if (refusal) throw new TypeError(`sequelize-autoreconnect: ${refusal}`);
      const rules = { lost: own?.replay ?? engine.options.replayTransactions, conflicts: own?.conflicts ?? engine.options.replayConflicts };
      return rules.lost || rules.conflicts ? rules : undefined;
    },
    replayable: (transaction) => {
      engine.transactions.replayable.add(transaction);
      mayWrap();
    },
    replayTransaction: (rules, attempt) => replayTransaction(engine, rules, attempt),
    certainlyNotCommitted: (error) => isReplayable(error) || engine.dialect.classifier.isConflict(error),
  };
}
