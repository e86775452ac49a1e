import { ConnectionAcquireTimeoutError } from 'sequelize';
import type { Facade } from '../engine/facade';
import type { AcquireOptions, Connection } from '../engine/port';
import { abstractGetConnection, PoolTimeoutError, poolDebug } from './internals';
import type { Internals } from './probe';

/**
 * This instance's `getConnection`: Sequelize's own (6.37: its hooks around `pool.acquire`, the
 * pool's timeout as `ConnectionAcquireTimeoutError`, its debug line), with the engine's checkout
 * of the connection it gets and its recovery in the `catch`, so that an operation that succeeds
 * pays for neither. The rest (the first connection, which learns the server's version; Sequelize's
 * own retry of an operation that failed) takes the engine's general path, through the original.
 */
export function patchGetConnection(internals: Internals, facade: Facade): void {
  const { connectionManager: cm, sequelize } = internals;
  if (cm.getConnection !== abstractGetConnection) {
    // Not Sequelize's own (something else wrapped it): the general path, around whatever it is.
    cm.getConnection = (options) => facade.acquire(options ?? {});
    return;
  }
  const TimeoutError = PoolTimeoutError!;
  const debug = poolDebug!;
  cm.getConnection = async function getConnection(options?: AcquireOptions): Promise<Connection> {
    options = options || {};
    if (sequelize.options.databaseVersion === 0 || facade.failedBefore(options)) return facade.acquire(options);
    facade.check(options);
    const askedAt = facade.askedAt();
    let connection: Connection;
    try {
      await sequelize.runHooks('beforePoolAcquire', options);
      connection = await cm.pool.acquire(options.type, options.useMaster);
      await sequelize.runHooks('afterPoolAcquire', connection, options);
    } catch (error) {
      return facade.acquireFailed(options, error instanceof TimeoutError ? new ConnectionAcquireTimeoutError(error) : error, askedAt);
    }
    debug('connection acquired');
    return facade.acquired(options, connection);
  };
}
