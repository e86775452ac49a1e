interface Mysql2Connection {
  on(event: 'error', listener: (error: Error) => void): unknown;
  destroy(): void;
}
interface Mysql2 {
  createConnection(config: unknown): Mysql2Connection;
}

/**
 * A mysql2 connection that errs with no command to blame emits `'error'`; Sequelize listens only
 * between `createConnection` and the end of `connect()` and after it, so this instance's
 * connections get a listener from birth: no unhandled `'error'` can crash the process. The
 * driver module itself is left as it is: other instances, and the application, share it.
 */
export function guardMysql2(lib: object, _tap: unknown, created: (connection: object) => void): object {
  const driver = lib as Partial<Mysql2>;
  if (typeof driver.createConnection !== 'function') return lib;
  const createConnection = (config: unknown): Mysql2Connection => {
    const connection = (driver as Mysql2).createConnection(config);
    connection.on('error', () => {});
    created(connection);
    return connection;
  };
  return Object.create(lib, { createConnection: { value: createConnection } }) as object;
}

/**
 * Sequelize's `connect()` sends `SET time_zone` on the new connection and, when that fails (the
 * session killed or the server gone just then, a statement timeout), throws without closing it:
 * destroyed, so that no socket outlives the pool.
 */
export function destroyMysql2(connection: object): void {
  (connection as Mysql2Connection).destroy();
}
