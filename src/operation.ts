/**
 * What the plugin knows about one operation (one `sequelize.query` call, across Sequelize's own
 * retry attempts): the retry budget is shared by its connect and query phases.
 */
export interface Operation {
  retriesMade: number;
  /** `Date.now()` of the first failure; 0 before any. The deadline counts from here. */
  firstFailureAt: number;
  /** Some attempt may have reached the server. */
  mayHaveRun: boolean;
  /** A statement is being recovered: the connect phase is part of it and leaves the counting to it. */
  recovering: boolean;
  /** Pooled connections replaced at checkout (retired or failed validation) for this operation. */
  replacements: number;
  /** Logins retried because they were refused with a password replaced since. */
  staleLogins: number;
  /** The last real failure (a driver's error, never a deadline of ours): what a give-up reports. */
  cause: unknown;
  /** Once the plugin gave up, Sequelize's own `retry` gets this at once instead of trying again. */
  final: Error | undefined;
}

/**
 * Stored on the options object Sequelize passes to `getConnection` and, copied by Sequelize,
 * to the Query: enumerable so that copy carries it, a symbol so nothing else sees it.
 */
export const kOperation: unique symbol = Symbol('sequelize-autoreconnect.operation');

export interface CarriesOperation {
  [kOperation]?: Operation;
}

export function operationOf(options: CarriesOperation): Operation {
  return (options[kOperation] ??= {
    retriesMade: 0,
    firstFailureAt: 0,
    mayHaveRun: false,
    recovering: false,
    replacements: 0,
    staleLogins: 0,
    cause: undefined,
    final: undefined,
  });
}

/** Marks the first failure and returns the milliseconds left of the deadline. */
export function remainingMs(op: Operation, deadlineMs: number, now = Date.now()): number {
  if (op.firstFailureAt === 0) op.firstFailureAt = now;
  return deadlineMs - (now - op.firstFailureAt);
}
