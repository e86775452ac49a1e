/**
 * What the plugin knows about one operation that failed (one `sequelize.query` call, across
 * Sequelize's own retry attempts): its connect and query phases share the retry budget. Created
 * at the first failure only: an operation that succeeds has none.
 */
export interface Operation {
  retriesMade: number;
  /** Clock time of the first failure; 0 before any. The deadline counts from here. */
  firstFailureAt: number;
  /** Some attempt may have reached the server. */
  mayHaveRun: boolean;
  /** A verified write's COMMIT was lost and the server could not say in time how it ended. */
  commitUnknown: boolean;
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

export function newOperation(): Operation {
  return {
    retriesMade: 0,
    firstFailureAt: 0,
    mayHaveRun: false,
    commitUnknown: false,
    recovering: false,
    replacements: 0,
    staleLogins: 0,
    cause: undefined,
    final: undefined,
  };
}

/**
 * The operation for these options (the object Sequelize passes to `getConnection`, the same
 * across its retry attempts), created now if it has none yet. Only a failure gets here.
 */
export function operationFor(operations: WeakMap<object, Operation>, options: object): Operation {
  let op = operations.get(options);
  if (op === undefined) {
    op = newOperation();
    operations.set(options, op);
  }
  return op;
}

/** Marks the first failure and returns the milliseconds left of the deadline. */
export function remainingMs(op: Operation, deadlineMs: number, now: number): number {
  if (op.firstFailureAt === 0) op.firstFailureAt = now;
  return deadlineMs - (now - op.firstFailureAt);
}
