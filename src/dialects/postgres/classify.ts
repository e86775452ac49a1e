import { errorLayers, SOCKET_LOST_CODES, type ConnectFailure, type DialectClassifier, type QueryFailure } from '../../core/failure';

/**
 * PostgreSQL (node-postgres, pgbouncer, HAProxy in front): which errors mean the connection is
 * gone, and whether the statement may have run. When unsure, "may have run".
 */

/** pg refuses these before writing a byte: the statement never left the client. */
const NEVER_SENT_MESSAGES = [
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'Connection is not queryable',
];

/**
 * The server or pgbouncer closed a session it considered idle, so no statement of ours was
 * running there: 57P05 idle_session_timeout, pgbouncer's client_idle_timeout and query_wait_timeout,
 * and pgbouncer failing to reach a server for us.
 */
const NEVER_RAN_CODES = new Set(['57P05', '57P03', '53300']);
const NEVER_RAN_MESSAGES = [
  'client_idle_timeout',
  'query_wait_timeout',
  'pgbouncer cannot connect to server',
  'server login has been failing',
  'no more connections allowed',
];

/** The session ended while a statement may have been running: its outcome is unknown. */
const LOST_CODES = new Set([
  '57P01', // admin_shutdown: pg_terminate_backend, fast shutdown
  '57P02', // crash_shutdown
  '25P03', // idle_in_transaction_session_timeout: the transaction is gone with the session
  ...SOCKET_LOST_CODES,
]);
const LOST_MESSAGES = [
  'Connection terminated unexpectedly',
  'Connection terminated',
  'server conn crashed',
  'server closed the connection unexpectedly',
  'SSL SYSCALL error: EOF detected',
  'terminating connection',
];

/** Worth another try: the server is unreachable, starting, restarting or full. */
const TRANSIENT_CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ENOTFOUND', // DNS during a failover
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  '57P01',
  '57P02',
  '57P03', // the database system is starting up / shutting down
  '53300', // too many connections
  '53400', // configuration limit exceeded
]);
const TRANSIENT_CONNECT_MESSAGES = [
  'Connection terminated',
  'timeout expired',
  'Connection timed out',
  'connection timeout',
  'the database system is starting up',
  'the database system is shutting down',
  'pgbouncer cannot connect to server',
  'server login has been failing',
  'no more connections allowed',
];
const AUTH_CODES = new Set(['28P01', '28000']);
/** pgbouncer rejects a password with SQLSTATE 08P01, not 28P01: only its text says so. */
const AUTH_MESSAGES = ['password authentication failed', 'SASL authentication failed'];

/** The fields pg puts on its errors (and Sequelize's wrappers carry). */
interface ErrorFields {
  readonly message: string;
  readonly code?: unknown;
  readonly severity?: unknown;
}

const readFields = (e: Readonly<Record<string, unknown>>): ErrorFields => ({
  message: typeof e['message'] === 'string' ? e['message'] : '',
  code: e['code'],
  severity: e['severity'],
});

/** The error's layers, outermost first. */
const layersOf = (error: unknown): ErrorFields[] => errorLayers(error, readFields);

function sqlState(layer: ErrorFields): string | undefined {
  return typeof layer.code === 'string' ? layer.code : undefined;
}

function mentions(layer: ErrorFields, fragments: readonly string[]): boolean {
  return fragments.some((f) => layer.message.includes(f));
}

export function classifyQueryError(error: unknown): QueryFailure {
  const layers = layersOf(error);
  // 25006 read_only_sql_transaction: refused before running. Outside a READ ONLY transaction
  // it means the server is a standby, which is what a failed-over primary becomes.
  if (layers.some((l) => sqlState(l) === '25006')) return { lost: true, mayHaveRun: false, readOnlyServer: true };
  if (layers.some((l) => mentions(l, NEVER_SENT_MESSAGES))) return { lost: true, mayHaveRun: false };
  for (const layer of layers) {
    const code = sqlState(layer);
    if ((code !== undefined && NEVER_RAN_CODES.has(code)) || mentions(layer, NEVER_RAN_MESSAGES)) {
      return { lost: true, mayHaveRun: false };
    }
  }
  if (sessionEnded(layers)) return { lost: true, mayHaveRun: true };
  // A FATAL or PANIC ends the session whatever its code.
  if (layers.some((l) => l.severity === 'FATAL' || l.severity === 'PANIC')) return { lost: true, mayHaveRun: true };
  return { lost: false };
}

/** The connection is gone, by its code or pg's message (severity aside: every failed login is FATAL). */
function sessionEnded(layers: readonly ErrorFields[]): boolean {
  return layers.some((layer) => {
    const code = sqlState(layer);
    return (
      (code !== undefined && (LOST_CODES.has(code) || NEVER_RAN_CODES.has(code) || code.startsWith('08'))) ||
      mentions(layer, LOST_MESSAGES) ||
      mentions(layer, NEVER_SENT_MESSAGES) ||
      mentions(layer, NEVER_RAN_MESSAGES)
    );
  });
}

export function classifyConnectError(error: unknown): ConnectFailure {
  const layers = layersOf(error);
  for (const layer of layers) {
    const code = sqlState(layer);
    if ((code !== undefined && AUTH_CODES.has(code)) || mentions(layer, AUTH_MESSAGES)) return 'auth';
  }
  for (const layer of layers) {
    const code = sqlState(layer);
    if (code !== undefined && (TRANSIENT_CONNECT_CODES.has(code) || code.startsWith('08'))) return 'transient';
    if (mentions(layer, TRANSIENT_CONNECT_MESSAGES)) return 'transient';
  }
  // Sequelize sends its session settings (SET time zone, ...) and type queries on the new client
  // itself, outside any Query class: a session lost then fails with the query phase's raw errors.
  // Nothing of the caller's was sent yet, so any lost connection is worth another try.
  return sessionEnded(layers) ? 'transient' : 'fatal';
}

const START = /^\s*(START\s+TRANSACTION|BEGIN)\b/i;
const COMMIT = /^\s*(COMMIT|END)\b/i;
const ROLLBACK = /^\s*(ROLLBACK|ABORT)\b/i;

/** serialization_failure and deadlock_detected: the server rolled the transaction back; running it again may succeed. */
const CONFLICT_CODES = new Set(['40001', '40P01']);

export const postgresClassifier: DialectClassifier = {
  dialect: 'postgres',
  classifyQueryError,
  classifyConnectError,
  isConflict: (error) => layersOf(error).some((layer) => CONFLICT_CODES.has(sqlState(layer) ?? '')),
  isTransactionStart: (sql) => START.test(sql),
  isCommit: (sql) => COMMIT.test(sql),
  isRollback: (sql) => ROLLBACK.test(sql),
};
