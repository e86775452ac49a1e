import { policyFor } from '../core/policy';
import { settleStep, type CommitOutcome } from '../core/settle';
import type { TransactionIds } from '../dialects/types';
import { discard } from './discard';
import { listening, publish } from './events';
import { acquireFor } from './connect';
import { newOperation, remainingMs, type Operation } from './operation';
import type { Connection, QueryLike } from './port';
import { WatchedRecord, type SilenceWatch } from './silence';
import type { Engine, VerifiedFailure } from './state';
import { withDeadline } from './timing';

/**
 * Settling a COMMIT lost with its connection (of a verified write, or of a replayable managed
 * transaction): a new connection asks the server how the transaction ended, within the
 * operation's deadline. Its questions are watched for silence like any statement: one whose
 * connection went silent is cut and asked again on another, not waited for until the deadline.
 */

/**
 * The connection of a verified write was lost at `failure`: could it have committed? Before
 * COMMIT was sent, certainly not. During COMMIT, a new connection asks the server, within the
 * operation's deadline; `'committed'` comes with the statement's result.
 */
export async function settleVerified(
  engine: Engine,
  silence: SilenceWatch | undefined,
  op: Operation,
  query: QueryLike,
  failure: VerifiedFailure,
): Promise<{ outcome: CommitOutcome; result?: unknown }> {
  if (failure.stage !== 'commit' || !failure.ids) return { outcome: 'not-committed' };
  // A transaction that wrote nothing has nothing to lose: its result stands.
  if (failure.ids.xid === null) return { outcome: 'committed', result: failure.result };
  const outcome = await settle(engine, silence, op, query, failure.ids);
  engine.stats.note(outcome === 'unknown' ? 'commitsUnknown' : 'commitsSettled');
  if (listening('settled')) {
    // A managed transaction's own COMMIT, or the one a verified write wraps its statement in.
    const kind = query.options.transaction ? 'commit' : 'verified-write';
    publish(engine, 'settled', { kind, committed: outcome === 'unknown' ? undefined : outcome === 'committed' });
  }
  engine.host.debug(`a COMMIT lost with its connection was settled: ${outcome}`);
  return { outcome, result: failure.result };
}

async function settle(
  engine: Engine,
  silence: SilenceWatch | undefined,
  op: Operation,
  query: QueryLike,
  ids: TransactionIds,
): Promise<CommitOutcome> {
  const outcomes = engine.dialect.outcomes!;
  const { deadlineMs } = policyFor(engine.policies, query.options);
  const left = () => remainingMs(op, deadlineMs, engine.clock.now());
  // One record for every question: they are asked one at a time.
  const watched = new WatchedRecord();
  const ask = async <T>(connection: Connection, question: Promise<T>): Promise<T> => {
    silence?.start(watched, connection);
    try {
      return await withDeadline(engine.clock, question, left(), lateAnswer, () => {});
    } finally {
      silence?.end(watched);
    }
  };
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
        const status = await ask(connection, outcomes.status(connection, ids));
        const step = settleStep({ status, sessionEnded, polls: ++polls, remainingMs: left() });
        if (step.action === 'done') return step.outcome;
        if (closed(engine)) break;
        if (step.action === 'end-session') {
          sessionEnded = true;
          const ended = await ask(connection, outcomes.endSession(connection, ids));
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
  silence: SilenceWatch | undefined,
  op: Operation,
  query: QueryLike,
  error: unknown,
  mayHaveRun: boolean,
): Promise<
  { readonly done: true; readonly value: unknown } | { readonly done: false; readonly mayHaveRun: boolean; readonly commitUnknown: boolean }
> {
  const failure = typeof error === 'object' && error !== null ? engine.outcomes.verifiedFailures.get(error) : undefined;
  if (!failure) return { done: false, mayHaveRun, commitUnknown: false };
  const settled = await settleVerified(engine, silence, op, query, failure);
  if (settled.outcome === 'committed') return { done: true, value: settled.result };
  const unknown = settled.outcome === 'unknown';
  return { done: false, mayHaveRun: unknown, commitUnknown: unknown };
}
