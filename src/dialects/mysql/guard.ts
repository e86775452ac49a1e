interface Mysql2Connection {
  on(event: 'error', listener: (error: Error) => void): unknown;
  destroy(): void;
}
interface Mysql2Internals {
  lib: { createConnection(config: unknown): Mysql2Connection };
  connect(config: unknown): Promise<unknown>;
}

/**
 * Two gaps in Sequelize's mysql connection manager, closed for this instance:
 * - a mysql2 connection that errs with no command to blame emits `'error'`; Sequelize listens
 *   only between `createConnection` and the end of `connect()` and after it, so each connection
 *   gets a listener from birth: no unhandled `'error'` can crash the process;
 * - `connect()` sends `SET time_zone` on the new connection and, when that fails (the session
 *   killed or the server gone just then, a statement timeout), throws without closing it: the
 *   socket would outlive the pool. The connection it made is destroyed on any failure.
 */
export function guardMysql2(connectionManager: object): void {
  const cm = connectionManager as Mysql2Internals;
  const lib = cm.lib;
  let created: Mysql2Connection | undefined;
  const createConnection = (config: unknown): Mysql2Connection => {
    const connection = lib.createConnection(config);
    connection.on('error', () => {});
    created = connection;
    return connection;
  };
  cm.lib = Object.create(lib, { createConnection: { value: createConnection } }) as Mysql2Internals['lib'];
  const connect = cm.connect.bind(cm);
  cm.connect = async (config: unknown) => {
    // Sequelize calls createConnection synchronously, before connect's first await.
    created = undefined;
    const pending = connect(config);
    const connection = created as Mysql2Connection | undefined;
    try {
      return await pending;
    } catch (error) {
      connection?.destroy();
      throw error;
    }
  };
}
