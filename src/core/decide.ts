import type { RetryWrites } from './option-types';

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
  /** A verified write's lost COMMIT could not be settled: it may have committed. */
  readonly commitUnknown: boolean;
  /** Reads have no effect to duplicate. */
  readonly isRead: boolean;
  /** The caller said running it twice is harmless. */
  readonly idempotent: boolean;
  readonly retryWrites: RetryWrites;
}

/** May this statement, whose connection was lost outside a transaction, be run again? */
export function statementRetryable(s: StatementFacts): true | GiveUpReason {
  if (s.commitUnknown) return 'commit-outcome-unknown';
  if (s.isRead || s.idempotent) return true;
  switch (s.retryWrites) {
    case 'always':
      return true;
    case 'never':
      return 'writes-not-retried';
    case 'unsent':
    case 'verified':
      // A verified write gets here settled (`mayHaveRun` false) or with `commitUnknown`, unless
      // it ran bare (raw SQL of several statements): then the 'unsent' rule.
      return s.mayHaveRun ? 'write-may-have-executed' : true;
  }
}

export interface Budget {
  /** What the operation spent: its retries, and the clock time of its first failure (0 before any; its deadline counts from there). */
  readonly spent: { readonly retriesMade: number; readonly firstFailureAt: number };
  readonly limits: { readonly retries: number; readonly deadlineMs: number };
  readonly now: number;
}

/** Is there room for one more retry? */
export function budgetAllows({ spent, limits, now }: Budget): true | GiveUpReason {
  if (limits.retries === 0) return 'retry-disabled';
  if (spent.retriesMade >= limits.retries) return 'retries-exhausted';
  if (remainingMs(spent.firstFailureAt || now, limits.deadlineMs, now) <= 0) return 'deadline-exceeded';
  return true;
}

/** What a failed attempt of the connect phase says, as far as the decision goes. */
export interface ConnectFacts {
  readonly phase: 'connect';
  /** `sequelize.close()` was called. */
  readonly closed: boolean;
  /** The failure is the deadline of ours passing while waiting for a connection. */
  readonly deadlinePassed: boolean;
  readonly kind: 'transient' | 'auth' | 'fatal';
  /** A `beforeReconnect` hook could refresh refused credentials. */
  readonly canRefresh: boolean;
  /** The login was refused with a password replaced since, and the bound on such retries is not reached. */
  readonly staleLogin: boolean;
  readonly budget: Budget;
}

/** What a statement whose connection was lost says, as far as the decision goes. */
export interface QueryFacts {
  readonly phase: 'query';
  readonly closed: boolean;
  readonly statement: StatementFacts;
  readonly budget: Budget;
}

/**
 * The next step of a recovery:
 * - `give-up` with a reason (`counted`: the failure counts as one worth retrying, in the stats);
 * - `retry-now`: at once, without spending the budget or asking the hooks (a stale login);
 * - `retry`: spend one retry (hooks, backoff, a new connection).
 */
export type Step =
  | { readonly action: 'give-up'; readonly reason: GiveUpReason; readonly counted: boolean }
  | { readonly action: 'retry-now' }
  | { readonly action: 'retry' };

/** A managed transaction lost before COMMIT (or found not committed): replay it from the start? */
export interface TransactionFacts {
  readonly phase: 'transaction';
  readonly closed: boolean;
  readonly budget: Budget;
}

/**
 * A transaction is replayed only when it certainly did not commit: its connection was lost
 * (`transactionLost`) and `committed` is `false`, not unknown.
 */
export function transactionReplayable(lost: { readonly transactionLost: boolean; readonly committed?: boolean | undefined }): boolean {
  return lost.transactionLost && lost.committed === false;
}

/** The one decision for every phase; close() comes first in all. */
export function nextStep(facts: ConnectFacts | QueryFacts | TransactionFacts): Step {
  if (facts.phase === 'transaction') {
    if (facts.closed) return giveUp('closed', true);
    const room = budgetAllows(facts.budget);
    return room === true ? RETRY : giveUp(room, true);
  }
  if (facts.phase === 'query') {
    if (facts.closed) return giveUp('closed', true);
    const allowed = statementRetryable(facts.statement);
    if (allowed !== true) return giveUp(allowed, true);
    const room = budgetAllows(facts.budget);
    return room === true ? RETRY : giveUp(room, true);
  }
  if (facts.closed) return giveUp('closed', false);
  if (facts.deadlinePassed) return giveUp('deadline-exceeded', false);
  if (facts.kind === 'fatal' || (facts.kind === 'auth' && !facts.canRefresh)) return giveUp('not-retryable', false);
  if (facts.kind === 'auth' && facts.staleLogin) return RETRY_NOW;
  const room = budgetAllows(facts.budget);
  return room === true ? RETRY : giveUp(room, true);
}

const RETRY: Step = { action: 'retry' };
const RETRY_NOW: Step = { action: 'retry-now' };

function giveUp(reason: GiveUpReason, counted: boolean): Step {
  return { action: 'give-up', reason, counted };
}

/** Milliseconds left of a deadline counted from the first failure. */
export function remainingMs(firstFailureAt: number, deadlineMs: number, now: number): number {
  return deadlineMs - (now - firstFailureAt);
}
