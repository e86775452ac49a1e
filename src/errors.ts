import { ConnectionError } from 'sequelize';
import type { GiveUpReason } from './decide';

export interface ConnectionLostDetails {
  /** `'connect'`: no connection could be opened; `'query'`: the connection died under a statement. */
  readonly phase: 'connect' | 'query';
  /** Could the statement have run on the server (a write may be committed)? `false` means certainly not. */
  readonly mayHaveExecuted: boolean;
  /** The statement ran inside a transaction, which is gone with its connection. */
  readonly transactionLost: boolean;
  /** Attempts made, the first one included. */
  readonly attempts: number;
  /** Why the plugin stopped retrying. */
  readonly reason: GiveUpReason;
  readonly sql?: string | undefined;
  /** The error a `beforeReconnect` / `afterReconnect` hook threw, when that ended the retries. */
  readonly hookError?: unknown;
}

const EXPLANATIONS: Record<GiveUpReason, string> = {
  'in-transaction':
    'the transaction was lost with its connection and rolled back by the server; nothing of it was committed; retry the whole transaction',
  'commit-outcome-unknown': 'the connection was lost during COMMIT: the transaction may or may not have been committed',
  'write-may-have-executed':
    'the write may have run before the connection was lost, so it was not retried (mark it idempotent or set retryWrites to allow that)',
  'writes-not-retried': 'writes are not retried (retryWrites: never)',
  'retry-disabled': 'retries are disabled',
  'retries-exhausted': 'no retries left',
  'deadline-exceeded': 'the retry deadline passed',
  'hook-failed': 'a reconnect hook threw',
};

/**
 * A lost database connection that was not, or no longer, retried. An instance of Sequelize's
 * `ConnectionError`; the driver's error is `parent` / `original` / `cause`.
 */
export class ConnectionLostError extends ConnectionError implements ConnectionLostDetails {
  readonly phase: 'connect' | 'query';
  readonly mayHaveExecuted: boolean;
  readonly transactionLost: boolean;
  readonly attempts: number;
  readonly reason: GiveUpReason;
  readonly sql: string | undefined;
  readonly hookError: unknown;
  override readonly cause: unknown;

  constructor(parent: Error, details: ConnectionLostDetails, redact: (text: string) => string = (t) => t) {
    super(parent);
    this.name = 'ConnectionLostError';
    this.phase = details.phase;
    this.mayHaveExecuted = details.mayHaveExecuted;
    this.transactionLost = details.transactionLost;
    this.attempts = details.attempts;
    this.reason = details.reason;
    this.sql = details.sql === undefined ? undefined : redact(details.sql);
    this.hookError = details.hookError;
    this.cause = parent;
    const what = details.phase === 'connect' ? 'Could not connect to the database' : 'Database connection lost';
    const tries = details.attempts === 1 ? '1 attempt' : `${details.attempts} attempts`;
    const hook = details.hookError instanceof Error ? ` (${details.hookError.message})` : '';
    this.message = redact(`${what} after ${tries}: ${parent.message}; ${EXPLANATIONS[details.reason]}${hook}`);
    // The stack header was captured with the parent's message; show ours.
    const frames = (this.stack ?? '').split('\n').slice(1).join('\n');
    this.stack = `${this.name}: ${this.message}\n${frames}`;
  }
}
