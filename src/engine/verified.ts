import { isPlainDml } from '../core/dml';
import { policyFor } from '../core/policy';
import { settleStep, type CommitOutcome } from '../core/settle';
import type { OutcomeQueries, TransactionIds } from '../dialects/types';
import { discard } from './checkout';
import { acquireFor } from './connect';
import { newOperation, remainingMs, type Operation } from './operation';
import type { Connection, QueryLike } from './port';
import type { Engine } from './state';
import { withDeadline } from './timing';

/** How far a verified write got before it failed. */
export interface VerifiedFailure {
  /** `'commit'`: COMMIT was sent; before that, nothing of it can commit. */
  readonly stage: 'begin' | 'statement' | 'commit';
  readonly ids?: TransactionIds | undefined;
  /** The statement's own result, complete before COMMIT was sent. */
  readonly result?: unknown;
}

/**
 * Does this statement run as a verified write? Outside a transaction, a write (a model write,
 * or raw INSERT / UPDATE / DELETE), not marked idempotent, under `retryWrites: 'verified'`.
 * Costs one boolean test unless some policy asked for verified writes.
 */
export function verifies(engine: Engine, query: QueryLike, sql: string): boolean {
  if (!engine.verifiedSeen || !engine.dialect.outcomes || query.options.transaction) return false;
  const kind = engine.host.writeKind(query.options.type);
  if (kind === 'read' || (kind === 'raw' && !isPlainDml(sql))) return false;
  const policy = policyFor(engine, query.options);
  return policy.retryWrites === 'verified' && !policy.idempotent && policy.retries > 0;
}

/**
 * BEGIN and the transaction's ids in one round trip, the statement, COMMIT. A failure is noted
 * with how far it got, for `statementFailed`; errors of our own statements are Sequelize's.
 */
export async function runVerified(engine: Engine, query: QueryLike, run: () => Promise<unknown>): Promise<unknown> {
  const outcomes = engine.dialect.outcomes!;
  const connection = query.connection;
  let ids: TransactionIds;
  try {
    await supported(engine, connection, "retryWrites: 'verified'");
    ids = await outcomes.begin(connection);
  } catch (error) {
    if (error instanceof UnsupportedServer) throw error;
    await rollbackIfAlive(engine, outcomes, connection, error);
    throw noted(engine, engine.host.formatError(query, error), { stage: 'begin' });
  }
  let result: unknown;
  try {
    result = await run();
  } catch (error) {
    await rollbackIfAlive(engine, outcomes, connection, error);
    throw noted(engine, error, { stage: 'statement' });
  }
  try {
    await outcomes.commit(connection);
  } catch (error) {
    // Not lost: the server refused the COMMIT (a deferred constraint, a serialization failure) and rolled back.
    throw noted(engine, engine.host.formatError(query, error), { stage: 'commit', ids, result });
  }
  return result;
}

/** The COMMIT of a managed transaction that may be replayed: its outcome is worth settling. */
export function verifiesCommit(engine: Engine, query: QueryLike, sql: string): boolean {
  const { transaction } = query.options;
  return !!transaction && engine.replayable.has(transaction) && !!engine.dialect.outcomes && engine.dialect.classifier.isCommit(sql);
}

/** Learns the transaction's ids (one round trip), then sends COMMIT. */
export async function runVerifiedCommit(engine: Engine, query: QueryLike, run: () => Promise<unknown>): Promise<unknown> {
  const outcomes = engine.dialect.outcomes!;
  let ids: TransactionIds;
  try {
    await supported(engine, query.connection, 'replayTransactions');
    ids = await outcomes.ids(query.connection);
  } catch (error) {
    if (error instanceof UnsupportedServer) throw error;
    // An aborted transaction refuses the question; its COMMIT then rolls back, as without us.
    if (outcomes.aborted(error)) return run();
    // Any other failure aborted the transaction: a COMMIT now would silently roll back. The
    // caller gets the error (Sequelize ends the connection); COMMIT is never sent.
    if (!engine.dialect.classifier.classifyQueryError(error).lost) throw engine.host.formatError(query, error);
    // COMMIT not sent: a lost connection rolled the transaction back.
    throw noted(engine, engine.host.formatError(query, error), { stage: 'statement' });
  }
  try {
    return await run();
  } catch (error) {
    throw noted(engine, error, { stage: 'commit', ids, result: engine.dialect.rolledBackResult() });
  }
}

/**
 * The first time: can this server tell how a transaction ended? If not, the option cannot
 * keep its promise, and every use of it fails, naming it and the server's version.
 */
async function supported(engine: Engine, connection: Connection, option: string): Promise<void> {
  if (engine.outcomesSupported) return;
  const why = await engine.dialect.outcomes!.unsupported(connection);
  if (why) throw new UnsupportedServer(`${option} cannot work on this server: ${why}`);
  engine.outcomesSupported = true;
}

class UnsupportedServer extends Error {}

/**
 * A statement that failed on a live connection leaves its transaction open (aborted): end it. A
 * write refused as read only (25006) came from a live session too: rolled back, the session can
 * be asked whether it is read only by its own settings, as for an unverified write.
 */
async function rollbackIfAlive(engine: Engine, outcomes: OutcomeQueries, connection: Connection, error: unknown): Promise<void> {
  const failure = engine.dialect.classifier.classifyQueryError(error);
  if (failure.lost && !failure.readOnlyServer) return;
  try {
    await outcomes.rollback(connection);
  } catch {
    // Cannot tell what state it is in: never reuse it.
    connection._invalid = true;
  }
}

function noted(engine: Engine, error: unknown, failure: VerifiedFailure): unknown {
  if (typeof error === 'object' && error !== null) engine.verifiedFailures.set(error, failure);
  return error;
}

/**
 * The connection of a verified write was lost at `failure`: could it have committed? Before
 * COMMIT was sent, certainly not. During COMMIT, a new connection asks the server, within the
 * operation's deadline; `'committed'` comes with the statement's result.
 */
export async function settleVerified(
  engine: Engine,
  op: Operation,
  query: QueryLike,
  failure: VerifiedFailure,
): Promise<{ outcome: CommitOutcome; result?: unknown }> {
  if (failure.stage !== 'commit' || !failure.ids) return { outcome: 'not-committed' };
  // A transaction that wrote nothing has nothing to lose: its result stands.
  if (failure.ids.xid === null) return { outcome: 'committed', result: failure.result };
  const outcome = await settle(engine, op, query, failure.ids);
  engine.stats.note(outcome === 'unknown' ? 'commitsUnknown' : 'commitsSettled');
  engine.host.debug(`a COMMIT lost with its connection was settled: ${outcome}`);
  return { outcome, result: failure.result };
}

async function settle(engine: Engine, op: Operation, query: QueryLike, ids: TransactionIds): Promise<CommitOutcome> {
  const outcomes = engine.dialect.outcomes!;
  const { deadlineMs } = policyFor(engine, query.options);
  const left = () => remainingMs(op, deadlineMs, engine.clock.now());
  // Its own operation, on the same deadline: asking is not a retry of the write.
  const asking = newOperation();
  asking.firstFailureAt = op.firstFailureAt || engine.clock.now();
  asking.recovering = true;
  let sessionEnded = false;
  let polls = 0;
  while (left() > 0 && !engine.closed) {
    let connection: Connection;
    try {
      connection = await acquireFor(engine, asking, { type: 'SELECT', useMaster: true });
    } catch {
      return 'unknown';
    }
    try {
      // After close() nothing is asked, and above all no session ended: the outcome stays unknown.
      while (!closed(engine)) {
        const status = await withDeadline(engine.clock, outcomes.status(connection, ids), left(), lateAnswer, () => {});
        const step = settleStep({ status, sessionEnded, polls: ++polls, remainingMs: left() });
        if (step.action === 'done') return step.outcome;
        if (closed(engine)) break;
        if (step.action === 'end-session') {
          sessionEnded = true;
          const ended = await withDeadline(engine.clock, outcomes.endSession(connection, ids), left(), lateAnswer, () => {});
          engine.host.debug(`the session of a lost COMMIT ${ended ? 'was ended' : 'had ended already'}`);
        } else {
          await new Promise<void>((resolve) => engine.clock.setTimer(resolve, step.ms));
        }
      }
      return 'unknown';
    } catch {
      // No answer on this connection: another one, while time is left.
      discard(engine, connection, 'dead');
      continue;
    } finally {
      engine.host.release(connection);
    }
  }
  return 'unknown';
}

const lateAnswer = () => new Error('no answer before the deadline');

/** Read afresh after each await: close() may come during any of them. */
const closed = (engine: Engine): boolean => engine.closed;

/**
 * A statement's connection was lost: may it have run? A verified write's failure is settled
 * first; one found committed is done, with the statement's result.
 */
export async function lostOutcome(
  engine: Engine,
  op: Operation,
  query: QueryLike,
  error: unknown,
  mayHaveRun: boolean,
): Promise<{ readonly done: true; readonly value: unknown } | { readonly done: false; readonly mayHaveRun: boolean }> {
  const failure = typeof error === 'object' && error !== null ? engine.verifiedFailures.get(error) : undefined;
  if (!failure) return { done: false, mayHaveRun };
  const settled = await settleVerified(engine, op, query, failure);
  if (settled.outcome === 'committed') return { done: true, value: settled.result };
  return { done: false, mayHaveRun: settled.outcome === 'unknown' };
}
