/** What a failed statement says about its connection. */
export type QueryFailure =
  /** The connection is fine (or irrelevant): a constraint, a syntax error, a cancel. Not ours. */
  | { readonly lost: false }
  /**
   * The connection is gone, or no use for this statement. `mayHaveRun`: the statement may have
   * reached the server. `readOnlyServer`: the server refused a write because it is (now) a
   * read-only standby: after a failover the connection points at the old primary.
   */
  | { readonly lost: true; readonly mayHaveRun: boolean; readonly readOnlyServer?: boolean };

/**
 * What a failure to open a connection means.
 * - `transient`: the server is unreachable, starting, full or restarting; trying again may work.
 * - `auth`: credentials were refused; only worth retrying after something refreshed them.
 * - `fatal`: a configuration error or something not about the connection; do not retry.
 */
export type ConnectFailure = 'transient' | 'auth' | 'fatal';

/**
 * What a failure that the plugin acts on was, as hooks see it (`context.failure`):
 * - `'transient'`: no connection could be opened, for a reason that may pass;
 * - `'auth'`: the login was refused (a password rotated, a token expired);
 * - `'lost'`: the connection died under a statement;
 * - `'read-only'`: the server refused a write as a read-only standby (after a failover);
 * - `'conflict'`: a managed transaction failed on a serialization failure or deadlock and is
 *   about to be replayed (`reconnect: { conflicts: true }`, `replayConflicts`).
 */
export type ReconnectFailure = 'transient' | 'auth' | 'lost' | 'read-only' | 'conflict';

/** One per database dialect: pure functions over errors and SQL text. */
/** A thrown value as an `Error` (what hooks and give-ups carry). */
export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

export interface DialectClassifier {
  readonly dialect: string;
  classifyQueryError(error: unknown): QueryFailure;
  classifyConnectError(error: unknown): ConnectFailure;
  /** A serialization failure or deadlock: the server rolled the whole transaction back. */
  isConflict(error: unknown): boolean;
  /** The statement that opens a transaction (safe to replay on a new connection when it failed). */
  isTransactionStart(sql: string): boolean;
  isCommit(sql: string): boolean;
  isRollback(sql: string): boolean;
}

/**
 * The error and what it wraps, outermost first, each read by `read`: Sequelize wraps a driver's
 * error as `original` / `parent`, and the plugin wraps Sequelize's. Each dialect reads the fields
 * its drivers put on errors.
 */
export function errorLayers<L>(error: unknown, read: (fields: Readonly<Record<string, unknown>>) => L): L[] {
  const layers: L[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const e = current as Readonly<Record<string, unknown>>;
    layers.push(read(e));
    const next = e['original'] ?? e['parent'];
    if (next === current) break;
    current = next;
  }
  return layers;
}

/** Node's socket errors that mean the connection is gone, whatever the driver. */
export const SOCKET_LOST_CODES: readonly string[] = [
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ENETDOWN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_WRITE_AFTER_END',
];
