import type { DialectClassifier } from '../core/failure';
import type { TransactionLike } from '../engine/port';

/** What the plugin needs of a database dialect. */
export interface Dialect {
  /** Sequelize's name for it (`sequelize.getDialect()`). */
  readonly name: string;
  /** Pure classification of errors and SQL text. */
  readonly classifier: DialectClassifier;
  /** Resolves when the connection answered a trivial statement. A function, not a method: it is passed around unbound. */
  readonly ping: (connection: unknown) => Promise<void>;
  /**
   * What this dialect's Sequelize Query resolves a `ROLLBACK` with, returned when the server has
   * already rolled the transaction back with the lost session.
   */
  readonly rolledBackResult: () => unknown;
  /**
   * The parts of Sequelize's dialect code (its connection manager) that `guardDriver` uses, each
   * with a name for the error when it is missing: checked at `use()`.
   */
  readonly internals?: ReadonlyArray<{ readonly name: string; readonly present: (connectionManager: object) => boolean }>;
  /**
   * When the statement that opens `transaction` moves to a new connection: a statement to run
   * there first, restoring what the lost connection held for it (MySQL sets the isolation level
   * of the next transaction in a statement of its own, before `START TRANSACTION`).
   */
  readonly transactionPrelude?: (sql: string, transaction: TransactionLike) => string | undefined;
  /** Per-instance hardening of the driver, when it needs any. */
  readonly guardDriver?: (connectionManager: object) => void;
}
