import type { RetryWrites } from './options';

/** Why a lost connection was reported to the caller instead of retried. */
export type GiveUpReason =
  | 'in-transaction'
  | 'commit-outcome-unknown'
  | 'write-may-have-executed'
  | 'writes-not-retried'
  | 'retry-disabled'
  | 'retries-exhausted'
  | 'deadline-exceeded'
  | 'not-retryable'
  | 'closed'
  | 'hook-failed';

export interface StatementFacts {
  /** The statement may have reached the server (and so may have run). */
  readonly mayHaveRun: boolean;
  /** Reads have no effect to duplicate. */
  readonly isRead: boolean;
  /** The caller said running it twice is harmless. */
  readonly idempotent: boolean;
  readonly retryWrites: RetryWrites;
}

/** May this statement, whose connection was lost outside a transaction, be run again? */
export function statementRetryable(s: StatementFacts): true | GiveUpReason {
  if (s.isRead || s.idempotent) return true;
  switch (s.retryWrites) {
    case 'always':
      return true;
    case 'never':
      return 'writes-not-retried';
    case 'unsent':
      return s.mayHaveRun ? 'write-may-have-executed' : true;
  }
}

export interface Budget {
  /** Retries already made for this operation. */
  readonly retriesMade: number;
  readonly retries: number;
  /** Milliseconds left of the deadline. */
  readonly remainingMs: number;
}

/** Is there room for one more retry? */
export function budgetAllows(b: Budget): true | GiveUpReason {
  if (b.retries === 0) return 'retry-disabled';
  if (b.retriesMade >= b.retries) return 'retries-exhausted';
  if (b.remainingMs <= 0) return 'deadline-exceeded';
  return true;
}
