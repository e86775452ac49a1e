import { nextStep, transactionReplayable, type GiveUpReason, type Step } from '../core/decide';
import type { ReconnectFailure } from '../core/failure';
import { ConnectionLostError } from '../errors';
import type { ReconnectContext } from '../hooks';
import { acquireFor } from './connect';
import { giveUp } from './give-up';
import { newOperation, remainingMs, type Operation } from './operation';
import type { Connection } from './port';
import { recover, type Outcome, type Phase } from './recover';
import { asError, configFor, type Engine } from './state';

/** Did this failure leave the transaction certainly not committed, so that running it again is safe? */
export function isReplayable(error: unknown): error is ConnectionLostError {
  return error instanceof ConnectionLostError && transactionReplayable(error);
}

/** What a managed transaction is replayed on: a lost connection, a conflict (40001, 40P01), or both. */
export interface ReplayRules {
  readonly lost: boolean;
  readonly conflicts: boolean;
}

/** One run of a managed transaction, as the host sees it. */
export interface ReplayRun {
  /** Its Transaction, once Sequelize has begun it. */
  transaction: object | undefined;
  /** Its COMMIT succeeded: whatever fails after that (an afterCommit hook), it is never run again. */
  committed: boolean;
}

/**
 * Why this failure may be replayed under these rules, if it may: only a failure of this run's
 * own statements (not of another transaction, say one an afterCommit hook runs) before its
 * COMMIT succeeded.
 */
function replayFailure(engine: Engine, rules: ReplayRules, error: unknown, run: ReplayRun): 'lost' | 'conflict' | undefined {
  if (run.committed || !ownFailure(engine, error, run.transaction)) return undefined;
  if (rules.lost && isReplayable(error)) return 'lost';
  if (rules.conflicts && !(error instanceof ConnectionLostError) && engine.dialect.classifier.isConflict(error)) return 'conflict';
  return undefined;
}

/**
 * Did a statement of `transaction` (or of a savepoint inside it) fail with this error? A driver's
 * error is noted as it left the driver; the caller gets Sequelize's error over it (`parent`).
 */
function ownFailure(engine: Engine, error: unknown, transaction: object | undefined): boolean {
  const noted = (e: unknown) => (typeof e === 'object' && e !== null ? engine.transactions.failedIn.get(e) : undefined);
  let failedIn = noted(error) ?? noted((error as { parent?: unknown } | null | undefined)?.parent);
  for (let depth = 0; failedIn && depth < 100; depth++) {
    if (failedIn === transaction) return true;
    failedIn = (failedIn as { parent?: object }).parent;
  }
  return false;
}

/**
 * Runs a managed transaction (`attempt`: one whole `sequelize.transaction(callback)`), and runs
 * it again from the start when its connection was lost before COMMIT or its lost COMMIT was
 * found not committed: within the plugin's retries, deadline and backoff, with the hooks.
 */
export async function replayTransaction<T>(engine: Engine, rules: ReplayRules, attempt: (run: ReplayRun) => Promise<T>): Promise<T> {
  const run: ReplayRun = { transaction: undefined, committed: false };
  try {
    return await attempt(run);
  } catch (error) {
    const failure = replayFailure(engine, rules, error, run);
    if (!failure) throw error;
    return recover(engine, new TransactionPhase(engine, newOperation(), rules, attempt, error, failure), error);
  }
}

class TransactionPhase<T> implements Phase<T> {
  readonly name = 'transaction';
  /** The connection was lost, the server may be fine: the first replay starts at once. */
  readonly immediateFirst = true;
  readonly retries: number;
  readonly deadlineMs: number;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };

  constructor(
    private readonly engine: Engine,
    readonly op: Operation,
    private readonly rules: ReplayRules,
    private readonly attempt: (run: ReplayRun) => Promise<T>,
    private last: unknown,
    private failure: 'lost' | 'conflict',
  ) {
    ({ retries: this.retries, deadlineMs: this.deadlineMs, backoff: this.backoff } = engine.options);
  }

  assess(): { step: Step; failure: ReconnectFailure } {
    const { engine, op } = this;
    const step = nextStep({
      phase: 'transaction',
      closed: engine.closed,
      budget: () => ({
        retriesMade: op.retriesMade,
        retries: this.retries,
        remainingMs: remainingMs(op, this.deadlineMs, engine.clock.now()),
      }),
    });
    return { step, failure: this.failure };
  }

  retryNow(): Promise<T> {
    return Promise.reject(new Error('a transaction is never replayed outside its budget'));
  }

  context(error: unknown): ReconnectContext {
    const { engine } = this;
    const config = configFor(engine, 'write');
    return {
      error: asError(error),
      attempt: this.op.retriesMade,
      phase: 'transaction',
      failure: this.failure,
      config,
      pool: engine.host.replicated ? 'write' : undefined,
      host: config.host,
    };
  }

  /** A connection proves the server takes new sessions (the connect phase rides out an outage); the transaction gets its own. */
  reconnect(): Promise<Connection> {
    return acquireFor(this.engine, this.op, { useMaster: true });
  }

  reconnectFailed(reconnectError: unknown): never {
    if (reconnectError instanceof ConnectionLostError) throw this.giveUp(reconnectError.reason, undefined, reconnectError.cause);
    throw this.giveUp(this.engine.closed ? 'closed' : 'not-retryable');
  }

  install(): void {}

  abandon(connection: Connection): void {
    this.engine.host.release(connection);
  }

  async finish(connection: Connection): Promise<Outcome<T>> {
    const { engine, op } = this;
    engine.host.release(connection);
    engine.stats.note('transactionReplays');
    engine.host.debug(`replaying a managed transaction (replay ${op.retriesMade})`);
    const run: ReplayRun = { transaction: undefined, committed: false };
    try {
      const value = await this.attempt(run);
      engine.stats.note('retriesSucceeded');
      return { done: true, value };
    } catch (error) {
      const failure = replayFailure(engine, this.rules, error, run);
      if (!failure) throw error;
      [this.last, this.failure] = [error, failure];
      return { done: false, error };
    }
  }

  giveUp(reason: GiveUpReason, hookError?: unknown, cause?: unknown): Error {
    // Out of replays after a conflict: the caller gets the server's error, as without the plugin.
    if (this.failure === 'conflict' && hookError === undefined && cause === undefined && reason !== 'closed') {
      this.engine.stats.note('retriesFailed');
      return asError(this.last);
    }
    return giveUp(this.engine, this.op, {
      phase: 'query',
      reason,
      cause: cause ?? (this.last instanceof ConnectionLostError ? this.last.cause : this.last),
      mayHaveExecuted: false,
      committed: false,
      transactionLost: true,
      hookError,
    });
  }
}
