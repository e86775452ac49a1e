import type { Connection, QueryLike } from './port';
import type { Engine } from './state';

/** A statement's driver call, as the driver connection got it: what to make again on a new one. */
export interface DriverCall {
  readonly config: unknown;
  readonly values: unknown;
}

/**
 * Makes a statement's driver call again on `connection` (after `prelude`, when its transaction
 * needs one there), failing with what Sequelize's `run` would have thrown.
 */
export async function callAgain(
  engine: Engine,
  query: QueryLike,
  connection: Connection,
  call: DriverCall,
  parameters: unknown,
  prelude: string | undefined,
): Promise<unknown> {
  const { rerun } = engine.dialect.driverStatements!;
  try {
    if (prelude) await rerun(connection, prelude, undefined);
    return await rerun(connection, call.config, call.values);
  } catch (error) {
    throw engine.host.formatError(query, error, { sql: call.config, parameters });
  }
}
