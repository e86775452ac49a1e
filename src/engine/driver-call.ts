import type { Connection, QueryLike, TransactionLike } from './port';
import type { Engine } from './state';
import { runVerified, verifies } from './verified';

/** A statement's driver call, as the driver connection got it: what to make again on a new one. */
export interface DriverCall {
  readonly config: unknown;
  readonly values: unknown;
}

/**
 * Makes a statement's driver call again on `connection` (after `prelude`, when its transaction
 * needs one there). It fails with the driver's error: Sequelize's `run`, whose driver call this
 * stands in for, formats it with its caller's stack.
 */
export async function callAgain(engine: Engine, connection: Connection, call: DriverCall, prelude: string | undefined): Promise<unknown> {
  const { rerun } = engine.dialect.driverStatements!;
  if (prelude) await rerun(connection, prelude, undefined);
  return rerun(connection, call.config, call.values);
}

/**
 * Runs a lost statement again on `connection`: at the driver when it was watched there
 * (`driver`), else through Sequelize's `run` (a verified write as one again). A transaction's
 * first statement gets what the lost connection held for it first (MySQL's isolation level).
 */
export async function runAgain(
  engine: Engine,
  connection: Connection,
  statement: {
    query: QueryLike;
    sql: string;
    parameters: unknown;
    driver: DriverCall | undefined;
    transaction: TransactionLike | undefined;
  },
): Promise<unknown> {
  const { query, sql, parameters, driver, transaction } = statement;
  const prelude = transaction && engine.dialect.transactionPrelude?.(sql, transaction);
  if (driver) return callAgain(engine, connection, driver, prelude);
  if (prelude) await engine.host.runAgain(query, prelude, undefined);
  const again = () => engine.host.runAgain(query, sql, parameters);
  return verifies(engine, query, sql) ? runVerified(engine, query, again) : again();
}
