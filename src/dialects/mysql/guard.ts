import { connect, type Socket } from 'node:net';
import { rememberMariadb, rememberMysql2 } from './silence';
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
    rememberMysql2(connection, driver as Parameters<typeof rememberMysql2>[1], config);
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

interface MariadbConnectOptions {
  host?: string;
  port?: number;
  socketPath?: string;
  stream?: unknown;
}
interface Mariadb {
  createConnection(config: MariadbConnectOptions): Promise<object>;
}

/**
 * The mariadb connector's `createConnection` returns a promise: the connection is out of reach
 * until it has logged in, so nothing could close one that never does. This instance's
 * connections get their TCP socket from the plugin instead (the connector's `stream` option, the
 * address it would use itself): `created` receives that socket. A Unix socket or a `stream` of
 * the application's own is left as it is (an attempt is still bounded, but its socket is left to the connector).
 */
export function guardMariadb(lib: object, _tap: unknown, created: (socket: object) => void): object {
  const driver = lib as Partial<Mariadb>;
  if (typeof driver.createConnection !== 'function') return lib;
  const createConnection = (config: MariadbConnectOptions): Promise<object> => {
    if (config.socketPath || config.stream) return (driver as Mariadb).createConnection(config);
    // Called again for each connection the connector opens with these options (one that kills a
    // query left running when it is destroyed): each gets a socket of its own.
    let own: Socket | undefined;
    const stream = (): Socket => {
      const socket = connect(config.port || 3306, config.host || 'localhost');
      if (!own) created((own = socket));
      return socket;
    };
    const connecting = (driver as Mariadb).createConnection({ ...config, stream });
    // The silence watchdog's: which socket the connection speaks on, and how to make a checker.
    connecting.then(
      (connection) => own && rememberMariadb(connection, own, driver as Mariadb, config),
      () => {},
    );
    return connecting;
  };
  return Object.create(lib, { createConnection: { value: createConnection } }) as object;
}

/** Destroys a connecting mariadb connection's socket: the connector fails its login with the error. */
export function abortMariadb(socket: object): void {
  const error = Object.assign(new Error('connection attempt abandoned: no answer'), { code: 'ETIMEDOUT' });
  (socket as Socket).destroy(error);
}
