/**
 * Settling a lost COMMIT: what the server says of the transaction's id, and what to do next.
 * Pure: the engine asks, sleeps and ends sessions; this decides.
 */

/**
 * What the server says of a transaction (PostgreSQL's `pg_xact_status`), or `'unknown'` when it
 * cannot say (an id it never saw, after a failover; one too old to be remembered).
 */
export type TransactionStatus = 'committed' | 'aborted' | 'in progress' | 'unknown';

/** What a lost COMMIT turned out to be. */
export type CommitOutcome = 'committed' | 'not-committed' | 'unknown';

export interface SettleFacts {
  readonly status: TransactionStatus;
  /** The old session was asked to end (it may still be finishing its COMMIT). */
  readonly sessionEnded: boolean;
  /** Questions asked so far, this one included. */
  readonly polls: number;
  /** Milliseconds left of the operation's deadline. */
  readonly remainingMs: number;
}

export type SettleStep =
  | { readonly action: 'done'; readonly outcome: CommitOutcome }
  /** End the old session: a transaction whose session is gone can only end, one way or the other. */
  | { readonly action: 'end-session' }
  | { readonly action: 'wait'; readonly ms: number };

/** Polls answered "in progress" before the old session is ended: a COMMIT in flight takes milliseconds. */
export const GRACE_POLLS = 3;
const FIRST_WAIT_MS = 10;
const MAX_WAIT_MS = 200;

/**
 * The next step. "In progress" never becomes "not committed" by waiting alone: the old session,
 * still alive on the server, may yet commit; only its end (or the deadline, as unknown) decides.
 */
export function settleStep(f: SettleFacts): SettleStep {
  switch (f.status) {
    case 'committed':
      return done('committed');
    case 'aborted':
      return done('not-committed');
    case 'unknown':
      return done('unknown');
    case 'in progress':
      if (f.remainingMs <= 0) return done('unknown');
      if (!f.sessionEnded && f.polls >= GRACE_POLLS) return { action: 'end-session' };
      return { action: 'wait', ms: Math.min(FIRST_WAIT_MS * 2 ** (f.polls - 1), MAX_WAIT_MS, f.remainingMs) };
  }
}

function done(outcome: CommitOutcome): SettleStep {
  return { action: 'done', outcome };
}
