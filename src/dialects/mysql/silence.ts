import { connect, type Socket } from 'node:net';
import { askByServer, objectIds, type ServerBatch, type SessionAddress } from '../silence-groups';
import type { CheckBounds, SessionVerdict, SilenceProbe, SilentSession } from '../types';

/**
 * The silence watchdog's questions for MySQL and MariaDB (see `SilenceProbe`), through mysql2 or
 * the mariadb connector: a statement's session looked up by its thread id in
 * `information_schema.PROCESSLIST`, from a checker connection made as the application's are.
 */

type Row = Record<string, unknown>;

/** A checker connection, whichever the driver. */
interface Checker {
  /** Resolves once logged in; rejects with the driver's connect error. */
  readonly connected: Promise<void>;
  readonly query: (sql: string, values: unknown[]) => Promise<Row[]>;
  /** Its own thread id, as the handshake gave it. */
  readonly threadId: () => unknown;
  /** At once, with no graceful end (a check that got no answer would wait for that too). */
  readonly destroy: () => void;
}

interface Origin {
  /** The TCP socket the connection speaks on (the mariadb connector keeps its own private). */
  readonly socket: (connection: unknown) => Socket | undefined;
  readonly open: (timeoutMs: number) => Checker;
  /** The server and account a check connects to, with the driver: sessions asked about together share it. */
  readonly server: string;
}

/** How each connection of the plugin's was made: the checker is made the same way, unguarded. */
const origins = new WeakMap<object, Origin>();
const libIds = objectIds();

function serverKey(lib: object, config: unknown): string {
  const c = (typeof config === 'object' && config !== null ? config : {}) as Record<string, unknown>;
  return [libIds(lib), c['host'], c['port'], c['socketPath'], c['user']].join('\u0000');
}

/**
 * One round trip for every session asked about on a server (a row for each one found, or one
 * row with no session when none is), the same SQL on MySQL and MariaDB (MariaDB's `QUERY_ID`
 * does not exist on MySQL). The checker's own id tells a proxy in between (ProxySQL): its id would not be the
 * server's. A statement is told from the next by when it started, `UNIX_TIMESTAMP() - TIME`, in
 * whole seconds: two estimates of one start differ by at most 1, so a tolerance of 1 never takes
 * a statement for another (the direction that would cut a healthy query); the other direction
 * only waits one more check. Text as CHAR: the drivers disagree on BIGINT (number, BigInt, string).
 */
export function sessionsSql(count: number): string {
  return `SELECT CAST(CONNECTION_ID() AS CHAR) AS me, CAST(p.ID AS CHAR) AS id, p.COMMAND AS command,
  CAST(p.TIME AS CHAR) AS time, CAST(UNIX_TIMESTAMP() - p.TIME AS CHAR) AS since
  FROM (SELECT 1) AS one LEFT JOIN information_schema.PROCESSLIST AS p ON p.ID IN (${Array(count).fill('?').join(', ')})`;
}

/** 1040 too many connections, 1203 / 1226 the account's limit: a live server refusing for want of slots. */
const FULL_ERRNOS = new Set([1040, 1203, 1226]);
/** Connect errors that say nothing reached the server, so neither does our session's answer. */
const UNREACHABLE =
  /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET|EPIPE|PROTOCOL_CONNECTION_LOST|ER_CONNECTION_TIMEOUT|ER_SOCKET|timeout|unexpectedly been closed|Connection lost/i;

export function connectVerdict(error: unknown): SessionVerdict {
  const { code, errno, message } = (error ?? {}) as { code?: unknown; errno?: unknown; message?: unknown };
  const text = `${typeof code === 'string' ? code : ''} ${typeof message === 'string' ? message : ''}`.trim();
  // Our session may well be working on a server that is full.
  if (typeof errno === 'number' && FULL_ERRNOS.has(errno))
    return { state: 'alive', why: 'the server refused the check for too many connections' };
  if (UNREACHABLE.test(text)) return { state: 'lost', why: `the server is unreachable (${text})` };
  return { state: 'unknown', why: `the check could not connect (${text})` };
}

export function rowVerdict(row: Row | undefined, checkerId: unknown, started: string | undefined, graceMs: number): SessionVerdict {
  if (!row) return { state: 'unknown', why: 'the check got no row' };
  if (row['me'] !== String(checkerId))
    return { state: 'pooled', why: 'the thread ids are not the server sessions (a proxy such as ProxySQL)' };
  if (row['id'] === null || row['id'] === undefined) return { state: 'lost', why: 'its session is gone' };
  const command = typeof row['command'] === 'string' ? row['command'] : '';
  if (command === 'Killed') return { state: 'lost', why: 'its session is being killed' };
  if (command === 'Sleep') {
    // TIME counts whole seconds idle: 0 may be less than the grace, its answer on its way.
    if (Number(row['time']) * 1000 < graceMs) return { state: 'unknown', why: 'its session went idle just now' };
    return { state: 'lost', why: 'its session is idle' };
  }
  // Query, Execute, Fetch, ...: working. An unknown command counts as working: never cut on a guess.
  const since = String(row['since']);
  if (started !== undefined && Math.abs(Number(since) - Number(started)) > 1)
    return { state: 'lost', why: 'its session is on another statement' };
  return { state: 'running', started: since };
}

const NO_THREAD: SessionVerdict = { state: 'unknown', why: 'the connection has no known thread id' };

function address(connection: unknown): SessionAddress<Origin, number> | undefined {
  const origin = typeof connection === 'object' && connection !== null ? origins.get(connection) : undefined;
  const id = (connection as { threadId?: unknown }).threadId;
  if (!origin || typeof id !== 'number') return undefined;
  return { origin, server: origin.server, id };
}

/** The row of thread `id` among those the check returned; none: its session is gone (the one row left joined to nothing). */
function rowOf(rows: Row[], id: number): Row | undefined {
  return rows.find((row) => row['id'] === String(id)) ?? (rows[0] && { ...rows[0], id: null });
}

/** `promise`, or `'expired'` after `ms` (a timer that keeps nothing alive). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'expired'> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(resolve, ms, 'expired');
    timer.unref();
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function askServer({ origin, ids, started }: ServerBatch<Origin, number>, { connectMs, answerMs, graceMs }: CheckBounds) {
  const all = (verdict: SessionVerdict) => () => verdict;
  let checker: Checker | undefined;
  try {
    checker = origin.open(connectMs);
    const loggingIn = checker.connected.then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    const login = await within(loggingIn, connectMs);
    if (login === 'expired') return all({ state: 'lost', why: `the server is unreachable (no login within ${connectMs} ms)` });
    if (login) return all(connectVerdict(login.error));
    const rows = await within(checker.query(sessionsSql(ids.length), ids), answerMs);
    if (rows === 'expired') return all({ state: 'unknown', why: `the check got no answer within ${answerMs} ms` });
    const me = checker.threadId();
    return (index: number) => rowVerdict(rowOf(rows, ids[index]!), me, started[index], graceMs);
  } catch (error) {
    return all({ state: 'unknown', why: `the check failed (${error instanceof Error ? error.message : String(error)})` });
  } finally {
    try {
      checker?.destroy();
    } catch {
      // Nothing to report: the check's verdict stands.
    }
  }
}

const ask = (subjects: readonly SilentSession[], bounds: CheckBounds): Promise<SessionVerdict[]> =>
  askByServer(subjects, address, NO_THREAD, (batch) => askServer(batch, bounds));

/** With `error` where the driver still listens for one; a driver that let go of its socket (its listeners off) would leave it unhandled. */
function destroy(socket: Socket | undefined, error: Error): void {
  if (socket && socket.listenerCount('error') > 0) socket.destroy(error);
  else socket?.destroy();
}

const probe = (socketOf: (connection: unknown) => Socket | undefined): SilenceProbe => ({
  bytesRead: (connection) => socketOf(connection)?.bytesRead,
  ask,
  cut: (connection, error) => destroy(socketOf(connection), error),
  keepAlive: (connection) => socketOf(connection)?.setKeepAlive(true, 1000),
});

const originOf = (connection: unknown) => (typeof connection === 'object' && connection !== null ? origins.get(connection) : undefined);

interface Mysql2Connection {
  stream?: Socket;
  threadId?: unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  once(event: 'connect' | 'error', listener: (value: unknown) => void): unknown;
  query(sql: string, values: unknown[], callback: (error: Error | null, rows?: unknown) => void): unknown;
  destroy(): void;
}
interface Mysql2 {
  createConnection(config: unknown): Mysql2Connection;
}

/** A mysql2 connection of the plugin's: `lib` made it with `config` (its socket is `connection.stream`). */
export function rememberMysql2(connection: object, lib: Mysql2, config: unknown): void {
  const base = typeof config === 'object' && config !== null ? config : {};
  origins.set(connection, {
    server: serverKey(lib, config),
    socket: (c) => (c as Mysql2Connection).stream,
    open: (timeoutMs) => {
      const checker = lib.createConnection({ ...base, connectTimeout: timeoutMs });
      checker.on('error', () => {});
      return {
        connected: new Promise((resolve, reject) => {
          checker.once('connect', () => resolve());
          checker.once('error', reject);
        }),
        query: (sql, values) =>
          new Promise((resolve, reject) => {
            checker.query(sql, values, (error, rows) => (error ? reject(error) : resolve(rows as Row[])));
          }),
        threadId: () => checker.threadId,
        destroy: () => checker.destroy(),
      };
    },
  });
}

export const mysql2Silence = probe((connection) => originOf(connection)?.socket(connection));

interface MariadbConnection {
  threadId?: unknown;
  on(event: 'error', listener: () => void): unknown;
  query(sql: string, values: unknown[]): Promise<unknown>;
}
interface Mariadb {
  createConnection(config: never): Promise<object>;
}

/**
 * A mariadb connection of the plugin's: `lib` made it with `config` on `socket` (the guard's, by
 * the connector's `stream` option). The checker gets a socket of the check's own the same way,
 * so that it can be destroyed at once whatever the connector is doing.
 */
export function rememberMariadb(connection: object, socket: Socket, lib: Mariadb, config: { host?: string; port?: number }): void {
  origins.set(connection, {
    server: serverKey(lib, config),
    socket: () => socket,
    open: (timeoutMs) => {
      let own: Socket | undefined;
      let checker: MariadbConnection | undefined;
      const stream = (): Socket => (own = connect(config.port || 3306, config.host || 'localhost'));
      const connecting = (lib.createConnection as (config: unknown) => Promise<MariadbConnection>)({
        ...config,
        connectTimeout: timeoutMs,
        stream,
      });
      const opened = connecting.then((c) => {
        // The connector throws a socket error that no command takes and no listener hears: heard.
        c.on('error', () => {});
        checker = c;
      });
      opened.catch(() => {});
      return {
        connected: opened.then(() => undefined),
        query: async (sql, values) => (await checker!.query(sql, values)) as Row[],
        threadId: () => checker?.threadId,
        // The socket, with an error: the connector fails a login or a query in progress with it.
        // Not the connector's destroy(): with a query in progress it opens yet another connection to kill it.
        destroy: () => destroy(own, Object.assign(new Error('silence check ended'), { code: 'ECONNRESET' })),
      };
    },
  });
}

export const mariadbSilence = probe((connection) => originOf(connection)?.socket(connection));
