import { ConnectionError } from 'sequelize';
import type { GiveUpReason } from './core/decide';

export interface ConnectionLostDetails {
  /** `'connect'`: no connection could be opened; `'query'`: the connection died under a statement. */
  readonly phase: 'connect' | 'query';
  /** Could the statement have run on the server (a write may be committed)? `false` means certainly not. */
  readonly mayHaveExecuted: boolean;
  /**
   * Did the write (or transaction) commit? `true`: confirmed committed; `false`: confirmed not
   * committed (it never ran, or its transaction was rolled back); absent: unknown.
   */
  readonly committed?: boolean | undefined;
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

const EXPLANATIONS: Readonly<Record<GiveUpReason, string>> = {
  'in-transaction':
    'the transaction was lost with its connection and rolled back by the server; nothing of it was committed; retry the whole transaction',
  'commit-outcome-unknown': 'the connection was lost during COMMIT: the transaction may or may not have been committed',
  'write-may-have-executed':
    'the write may have run before the connection was lost, so it was not retried (mark it idempotent or set retryWrites to allow that)',
  'writes-not-retried': 'writes are not retried (retryWrites: never)',
  'retry-disabled': 'retries are disabled',
  'retries-exhausted': 'no retries left',
  'deadline-exceeded': 'the retry deadline passed',
  'not-retryable': 'this failure is not one that another attempt can fix, so it was not retried',
  closed: 'the Sequelize instance was closed',
  'hook-failed': 'a reconnect hook threw or did not settle before the deadline',
};

/** Why the plugin stopped, in words, for messages and the debug log. */
export function explain(reason: GiveUpReason): string {
  return EXPLANATIONS[reason];
}

/**
 * Marks every error the plugin gives up with, across copies of the package (its CommonJS and ES
 * module builds may both be loaded): `instanceof ConnectionLostError` checks this mark.
 */
const kLost = Symbol.for('sequelize-autoreconnect.connection-lost');

/**
 * A lost database connection that was not, or no longer, retried. An instance of Sequelize's
 * `ConnectionError`; the driver's error is `parent` / `original` / `cause`.
 *
 * When no connection could be opened, the error is an instance of the class bare Sequelize
 * would have thrown (`ConnectionRefusedError`, `AccessDeniedError`, ...), with its name and
 * message, and `instanceof ConnectionLostError` is true for it as well: see `connectFailure`.
 */
export class ConnectionLostError extends ConnectionError implements ConnectionLostDetails {
  static override [Symbol.hasInstance](value: unknown): boolean {
    // Subclasses of ours keep the ordinary prototype check.
    if (this !== ConnectionLostError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kLost] === true;
  }

  readonly phase: 'connect' | 'query';
  readonly mayHaveExecuted: boolean;
  readonly committed?: boolean | undefined;
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
    // What could not have run cannot have committed.
    this.committed = details.committed ?? (details.mayHaveExecuted ? undefined : false);
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
Object.defineProperty(ConnectionLostError.prototype, kLost, { value: true });

/**
 * Gives a `ConnectionLostError` the frames of `stack`, the one Sequelize's `run` captured where
 * the statement was made: the caller's code, as in every error Sequelize throws for a statement.
 * Anything else is returned as it is.
 */
export function withCallerStack<E>(error: E, stack: string | undefined): E {
  if (!(error instanceof ConnectionLostError) || typeof stack !== 'string') return error;
  const frames = stack.indexOf('\n    at ');
  if (frames >= 0) error.stack = `${error.name}: ${error.message}${stack.slice(frames)}`;
  return error;
}

/**
 * What a caller gets when no connection could be opened: an instance of `E`, the class bare
 * Sequelize would have thrown (`ConnectionRefusedError`, `HostNotFoundError`, ...; plain
 * `ConnectionError` where Sequelize throws that), with its `name` and message, that is also a
 * `ConnectionLostError` with `phase: 'connect'` and `mayHaveExecuted: false`.
 *
 * ```ts
 * if (error instanceof ConnectionRefusedError && error instanceof ConnectionLostError) error.attempts;
 * ```
 */
export type ConnectFailureError<E extends ConnectionError = ConnectionError> = E &
  ConnectionLostError & { readonly phase: 'connect'; readonly mayHaveExecuted: false; readonly transactionLost: false };

type ConnectionErrorClass = new (parent: Error) => ConnectionError;
const variants = new WeakMap<ConnectionErrorClass, ConnectionErrorClass>();

/** A subclass of one of Sequelize's connection error classes that also counts as ours. */
function lostVariantOf(Base: ConnectionErrorClass): ConnectionErrorClass {
  let Variant = variants.get(Base);
  if (!Variant) {
    Variant = class extends Base {};
    Object.defineProperty(Variant, 'name', { value: Base.name });
    Object.defineProperty(Variant.prototype, kLost, { value: true });
    variants.set(Base, Variant);
  }
  return Variant;
}

/**
 * The error for a caller when no connection could be opened. Over one of Sequelize's connection
 * errors it is an instance of that very class, with its `name`, `message` and `parent` (code that
 * catches `ConnectionRefusedError` or matches `error.name` behaves as without the plugin), and
 * also a `ConnectionLostError` carrying what the plugin knows; `cause` is Sequelize's error. Over
 * anything else (pg's raw error from the statements Sequelize runs on a new connection) it is a
 * plain `ConnectionLostError`, so that a caller never meets a raw driver error.
 */
export function connectFailure(
  error: Error,
  details: Omit<ConnectionLostDetails, 'phase' | 'mayHaveExecuted' | 'transactionLost'>,
  redact: (text: string) => string,
): ConnectFailureError {
  const full: ConnectionLostDetails = { ...details, phase: 'connect', mayHaveExecuted: false, committed: false, transactionLost: false };
  if (!(error instanceof ConnectionError) || error instanceof ConnectionLostError) {
    return new ConnectionLostError(error, full, redact) as ConnectFailureError;
  }
  const Variant = lostVariantOf(error.constructor as ConnectionErrorClass);
  const lost = new Variant(error.parent) as ConnectionError & Record<string, unknown>;
  lost.message = redact(error.message);
  lost.stack = `${lost.name}: ${lost.message}\n${(lost.stack ?? '').split('\n').slice(1).join('\n')}`;
  Object.assign(lost, full, { sql: undefined, cause: error });
  return lost as unknown as ConnectFailureError;
}
