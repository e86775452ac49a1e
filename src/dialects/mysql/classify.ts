import { errorLayers, SOCKET_LOST_CODES, type ConnectFailure, type DialectClassifier, type QueryFailure } from '../../core/failure';

/**
 * MySQL and MariaDB, through mysql2 (Sequelize's `mysql` dialect) or the mariadb connector (its
 * `mariadb` dialect): which errors mean the connection is gone, and whether the statement may
 * have run. Both drivers put the server's `errno` and `sqlState` on their errors, and a `code`
 * (the server's symbolic name, the driver's own, or Node's socket code). When unsure, "may have run".
 */

/** The fields both drivers put on errors; Sequelize wraps them as `parent` / `original`. */
interface Layer {
  readonly message: string;
  readonly code: string | undefined;
  readonly errno: number | undefined;
  readonly sqlState: string | undefined;
  readonly fatal: boolean;
  /** Node's system call that failed, for socket errors. */
  readonly syscall: string | undefined;
}

function readLayer(e: Readonly<Record<string, unknown>>): Layer {
  return {
    message: typeof e['message'] === 'string' ? e['message'] : '',
    code: typeof e['code'] === 'string' ? e['code'] : undefined,
    // Node's system errors carry a negative errno (-104): not a server error number.
    errno: typeof e['errno'] === 'number' && e['errno'] > 0 ? e['errno'] : undefined,
    sqlState: typeof e['sqlState'] === 'string' ? e['sqlState'] : undefined,
    fatal: e['fatal'] === true,
    syscall: typeof e['syscall'] === 'string' ? e['syscall'] : undefined,
  };
}

/** The error's layers, outermost first. */
const layersOf = (error: unknown): Layer[] => errorLayers(error, readLayer);

/**
 * Refused by the driver before a byte was written: mysql2's closed-state refusal, the
 * connector's ER_CMD_CONNECTION_CLOSED (45013) and ER_CONNECTION_ALREADY_CLOSED (45001).
 */
const NEVER_SENT_MESSAGES = ["Can't add new command when connection is in closed state", 'Cannot execute new commands: connection closed'];
const NEVER_SENT_ERRNOS = new Set([45013, 45001]);

/**
 * The server ended the session without running the statement: 4031 ER_CLIENT_INTERACTION_TIMEOUT
 * (MySQL 8.0.24+ says so before closing an idle session), 1040 too many connections.
 */
const NEVER_RAN_ERRNOS = new Set([4031, 1040]);

/** The session ended while a statement may have been running. */
const LOST_ERRNOS = new Set([
  1053, // ER_SERVER_SHUTDOWN
  1927, // ER_CONNECTION_KILLED (MariaDB: KILL CONNECTION)
  1152, // ER_ABORTING_CONNECTION
  1184, // ER_NEW_ABORTING_CONNECTION
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST
  45009, // connector: ER_SOCKET_UNEXPECTED_CLOSE
  45004, // connector: ER_CMD_NOT_EXECUTED_DESTROYED ("command was killed": the one in flight was sent)
  45019, // connector: ER_SOCKET
  45026, // connector: ER_SOCKET_TIMEOUT
]);
const LOST_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST', // mysql2: "Connection lost: The server closed the connection."
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_PACKETS_OUT_OF_ORDER',
  'ER_SOCKET_UNEXPECTED_CLOSE',
  ...SOCKET_LOST_CODES,
]);
const LOST_MESSAGES = [
  'Connection lost',
  'socket has unexpectedly been closed',
  'MySQL server has gone away',
  'Lost connection to',
  // The silence watchdog's, destroying a socket whose answer was lost (the connector passes it on as is).
  'Connection terminated unexpectedly',
];

/** Not a lost connection, whatever a driver's `fatal` says: the connector marks 1317 fatal. */
const ALIVE_ERRNOS = new Set([
  1317, // ER_QUERY_INTERRUPTED: KILL QUERY stopped the statement, the session lives
  1213, // deadlock: retry the transaction, not the connection
  1205, // lock wait timeout
  1969, // MariaDB ER_STATEMENT_TIMEOUT (max_statement_time)
  3024, // MySQL ER_QUERY_TIMEOUT (max_execution_time)
  1792, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: the caller's own READ ONLY transaction
]);

const TRANSIENT_CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND', // DNS during a failover
  'EAI_AGAIN',
  'ER_CONNECTION_TIMEOUT', // connector: connectTimeout
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_USER_LIMIT_REACHED',
]);
/** 1040 / 1203 too many connections, 1226 the account's MAX_USER_CONNECTIONS, 45012 connect timeout. */
const TRANSIENT_CONNECT_ERRNOS = new Set([1040, 1203, 1226, 45012]);
/** 1045 access denied, 1698 access denied without a password (unix_socket plugin). */
const AUTH_ERRNOS = new Set([1045, 1698]);

export interface MysqlFamilyOptions {
  readonly dialect: 'mysql' | 'mariadb';
  /**
   * mysql2 sets `fatal` only when it has closed the connection; the connector also marks
   * errors fatal that leave the session usable (1317), so only its codes count.
   */
  readonly trustFatal: boolean;
  /**
   * mysql2 writes a command in one piece when it starts it, and only then (it does not
   * pipeline): a failed write (`write ECONNRESET` on a socket the peer already reset, `EPIPE`)
   * is that command's, and the kernel sent none of it.
   */
  readonly writeFailureNeverSent: boolean;
}

const mentions = (layer: Layer, fragments: readonly string[]) => fragments.some((f) => layer.message.includes(f));

/** A write refused because the server is read-only: 1836 ER_READ_ONLY_MODE, or 1290 naming read-only. */
function readOnlyServer(layers: readonly Layer[]): boolean {
  return layers.some((l) => l.errno === 1836 || (l.errno === 1290 && /read[-_ ]only/i.test(l.message)) || l.code === 'ER_READ_ONLY_MODE');
}

function sessionEnded(layers: readonly Layer[], options: MysqlFamilyOptions): boolean {
  return layers.some(
    (l) =>
      (l.errno !== undefined && (LOST_ERRNOS.has(l.errno) || NEVER_RAN_ERRNOS.has(l.errno) || NEVER_SENT_ERRNOS.has(l.errno))) ||
      (l.code !== undefined && LOST_CODES.has(l.code)) ||
      (l.sqlState !== undefined && l.sqlState.startsWith('08')) ||
      mentions(l, LOST_MESSAGES) ||
      mentions(l, NEVER_SENT_MESSAGES) ||
      (options.trustFatal && l.fatal && !(l.errno !== undefined && ALIVE_ERRNOS.has(l.errno))),
  );
}

export function classifyQueryError(error: unknown, options: MysqlFamilyOptions): QueryFailure {
  const layers = layersOf(error);
  if (readOnlyServer(layers)) return { lost: true, mayHaveRun: false, readOnlyServer: true };
  if (layers.some((l) => l.errno !== undefined && ALIVE_ERRNOS.has(l.errno))) return { lost: false };
  if (layers.some((l) => (l.errno !== undefined && NEVER_SENT_ERRNOS.has(l.errno)) || mentions(l, NEVER_SENT_MESSAGES))) {
    return { lost: true, mayHaveRun: false };
  }
  if (layers.some((l) => l.errno !== undefined && NEVER_RAN_ERRNOS.has(l.errno))) return { lost: true, mayHaveRun: false };
  if (options.writeFailureNeverSent && layers.some((l) => l.code === 'EPIPE' || (l.code === 'ECONNRESET' && l.syscall === 'write'))) {
    return { lost: true, mayHaveRun: false };
  }
  if (sessionEnded(layers, options)) return { lost: true, mayHaveRun: true };
  return { lost: false };
}

export function classifyConnectError(error: unknown, options: MysqlFamilyOptions): ConnectFailure {
  const layers = layersOf(error);
  if (layers.some((l) => (l.errno !== undefined && AUTH_ERRNOS.has(l.errno)) || l.sqlState === '28000')) return 'auth';
  for (const l of layers) {
    if (l.code !== undefined && TRANSIENT_CONNECT_CODES.has(l.code)) return 'transient';
    if (l.errno !== undefined && TRANSIENT_CONNECT_ERRNOS.has(l.errno)) return 'transient';
  }
  // Sequelize runs `SET time_zone` on the new session itself: a session lost then fails with
  // the query phase's errors. Nothing of the caller's was sent yet, so it is worth another try.
  return sessionEnded(layers, options) ? 'transient' : 'fatal';
}

/**
 * Sequelize opens a transaction on these dialects with `SET TRANSACTION ISOLATION LEVEL …` (when
 * asked for one; it applies to the session's next transaction only) and then `START TRANSACTION`.
 * Either may move to a new connection while nothing of the transaction ran; the engine asks the
 * dialect before moving a `START TRANSACTION` that followed an isolation level.
 */
const START = /^\s*(START\s+TRANSACTION\b|BEGIN(\s+WORK)?\s*;?\s*$|SET\s+TRANSACTION\b)/i;
const COMMIT = /^\s*COMMIT\b/i;
const ROLLBACK = /^\s*ROLLBACK\b/i;

export function mysqlFamilyClassifier(options: MysqlFamilyOptions): DialectClassifier {
  return {
    dialect: options.dialect,
    classifyQueryError: (error) => classifyQueryError(error, options),
    classifyConnectError: (error) => classifyConnectError(error, options),
    // Replaying transactions is PostgreSQL-only for now (refused at use()): nothing to replay.
    isConflict: () => false,
    isTransactionStart: (sql) => START.test(sql),
    isCommit: (sql) => COMMIT.test(sql),
    isRollback: (sql) => ROLLBACK.test(sql),
  };
}

export const mysqlClassifier = mysqlFamilyClassifier({ dialect: 'mysql', trustFatal: true, writeFailureNeverSent: true });
export const mariadbClassifier = mysqlFamilyClassifier({ dialect: 'mariadb', trustFatal: false, writeFailureNeverSent: false });
