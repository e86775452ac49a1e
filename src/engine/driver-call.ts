import type { Connection } from './port';
import type { Engine } from './state';

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
