import { nextStep, transactionReplayable } from '../core/decide';
import { asError } from '../core/failure';
import { ConnectionLostError } from '../errors';
import { acquireFor } from './connect';
import { giveUp } from './give-up';
import { newOperation, type Operation } from './operation';
import { elapsedSince, listening, publish, publishRecovered } from './events';
import { retry, type GiveUpWith, type RetryAbout, type RetryPlan } from './retry';
import { configFor, type Engine } from './state';

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
    return new TransactionReplay(engine, newOperation(), rules, attempt, error, failure).run();
  }
}

/** A managed transaction run again from the start, on a server that takes new sessions, while the budget allows. */
class TransactionReplay<T> {
  private readonly plan: RetryPlan;

  constructor(
    private readonly engine: Engine,
    private readonly op: Operation,
    private readonly rules: ReplayRules,
    private readonly attempt: (run: ReplayRun) => Promise<T>,
    private last: unknown,
    private failure: 'lost' | 'conflict',
  ) {
    const { retries, deadlineMs, backoff } = engine.options;
    // The connection was lost, the server may be fine: the first replay starts at once.
    this.plan = { name: 'transaction', retries, deadlineMs, backoff, immediateFirst: true, operation: 'transaction' };
  }

  async run(): Promise<T> {
    const { engine, op, plan } = this;
    for (;;) {
      const step = nextStep({ phase: 'transaction', closed: engine.closed, budget: { spent: op, limits: plan, now: engine.clock.now() } });
      if (step.action !== 'retry') throw this.giveUp(step.action === 'give-up' ? step.reason : 'not-retryable');
      // A connection proves the server takes new sessions (the connect phase rides out an outage); the transaction gets its own.
      const next = await retry(engine, op, plan, this.about(), this.last, acquireFor, { useMaster: true }, this.giveUp);
      if ('failed' in next) {
        if (next.failed instanceof ConnectionLostError) throw this.giveUp(next.failed.reason, undefined, next.failed.cause);
        throw this.giveUp(engine.closed ? 'closed' : 'not-retryable');
      }
      const { connection, context } = next;
      engine.host.release(connection);
      engine.stats.note('transactionReplays');
      if (listening('transactionReplayed')) publish(engine, 'transactionReplayed', { attempt: op.retriesMade }, context.config);
      engine.host.debug(`replaying a managed transaction (replay ${op.retriesMade})`);
      const run: ReplayRun = { transaction: undefined, committed: false };
      try {
        const value = await this.attempt(run);
        engine.stats.note('retriesSucceeded');
        publishRecovered(engine, op, context.config);
        return value;
      } catch (error) {
        const failure = replayFailure(engine, this.rules, error, run);
        if (!failure) throw error;
        [this.last, this.failure] = [error, failure];
      }
    }
  }

  private about(): RetryAbout {
    const { engine } = this;
    const config = configFor(engine, 'write');
    return { phase: 'transaction', failure: this.failure, config, pool: engine.host.replicated ? 'write' : undefined, host: config.host };
  }

  private readonly giveUp: GiveUpWith = (reason, hookError, cause) => {
    // Out of replays after a conflict: the caller gets the server's error, as without the plugin.
    if (this.failure === 'conflict' && hookError === undefined && cause === undefined && reason !== 'closed') {
      this.engine.stats.note('retriesFailed');
      if (listening('giveUp')) {
        const elapsedMs = elapsedSince(this.engine, this.op);
        const fields = { reason, mayHaveExecuted: false, committed: false, attempts: this.op.retriesMade + 1, elapsedMs };
        publish(this.engine, 'giveUp', fields);
      }
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
  };
}
