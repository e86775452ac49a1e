import { policyFor } from '../core/policy';
import type { OutcomeQueries, TransactionIds } from '../dialects/types';
import type { Connection, QueryLike } from './port';
import type { Engine, VerifiedFailure } from './state';

/**
 * Does this statement run as a verified write? Outside a transaction, a write (a model write,
 * or raw INSERT / UPDATE / DELETE), not marked idempotent, under `retryWrites: 'verified'`.
 * Costs one boolean test unless some policy asked for verified writes.
 */
export function verifies(engine: Engine, query: QueryLike, sql: string): boolean {
  if (!engine.policies.verifiedSeen || !engine.dialect.outcomes || query.options.transaction) return false;
  const kind = engine.host.writeKind(query.options.type);
  if (kind === 'read' || (kind === 'raw' && !engine.dialect.outcomes.isPlainDml(sql))) return false;
  const policy = policyFor(engine.policies, query.options);
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
  return (
    !!transaction && engine.transactions.replayable.has(transaction) && !!engine.dialect.outcomes && engine.dialect.classifier.isCommit(sql)
  );
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
  if (engine.outcomes.supported) return;
  const why = await engine.dialect.outcomes!.unsupported(connection);
  if (why) throw new UnsupportedServer(`${option} cannot work on this server: ${why}`);
  engine.outcomes.supported = true;
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
    engine.host.invalidate(connection);
  }
}

function noted(engine: Engine, error: unknown, failure: VerifiedFailure): unknown {
  if (typeof error === 'object' && error !== null) engine.outcomes.verifiedFailures.set(error, failure);
  return error;
}
