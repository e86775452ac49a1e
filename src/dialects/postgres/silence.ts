import type { SessionVerdict, SilenceProbe } from '../types';

/** What a pg client exposes that the check needs. */
interface SilentClient {
  /** The backend pid the server sent at login (BackendKeyData). */
  processID?: number | null;
  connection?: { stream?: { bytesRead?: number; destroy(error?: Error): void; setKeepAlive?(on: boolean, ms: number): void } };
}

interface CheckClient extends SilentClient {
  on(event: 'error', listener: () => void): unknown;
  connect(): Promise<unknown>;
  query(sql: string, values: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
}
type ClientClass = new (config: unknown) => CheckClient;

/** How each client of the plugin's was made: the check connection is made the same way, unguarded. */
const origins = new WeakMap<object, { readonly Base: ClientClass; readonly config: unknown }>();

export function rememberOrigin(client: object, Base: unknown, config: unknown): void {
  origins.set(client, { Base: Base as ClientClass, config });
}

/** One round trip: the checker's own pid tells a pooler in between (its pid would not be the backend's). */
const SESSION_SQL = `SELECT pg_backend_pid() AS me, a.pid, a.state, a.query_start::text AS started,
  (extract(epoch FROM clock_timestamp() - a.state_change) * 1000)::float8 AS idle_ms
  FROM (SELECT 1) AS one LEFT JOIN pg_stat_activity AS a ON a.pid = $1`;

/** Connect errors that say nothing reached the server, so neither does our session's answer. */
const UNREACHABLE = /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET|EPIPE|timeout|Connection terminated/i;

export function connectVerdict(error: unknown): SessionVerdict {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const text = `${typeof code === 'string' ? code : ''} ${typeof message === 'string' ? message : ''}`;
  // A server refusing for want of slots is a live server; our session may well be working.
  if (code === '53300' || code === '53400') return { state: 'alive', why: 'the server refused the check for too many connections' };
  if (UNREACHABLE.test(text)) return { state: 'lost', why: `the server is unreachable (${text.trim()})` };
  return { state: 'unknown', why: `the check could not connect (${text.trim()})` };
}

export function rowVerdict(
  row: Record<string, unknown> | undefined,
  checkerPid: unknown,
  started: string | undefined,
  graceMs: number,
): SessionVerdict {
  if (!row) return { state: 'unknown', why: 'the check got no row' };
  if (row['me'] !== checkerPid) return { state: 'pooled', why: 'the session ids are not the server backends (a pooler such as pgbouncer)' };
  const state = typeof row['state'] === 'string' ? row['state'] : undefined;
  if (row['pid'] === null) return { state: 'lost', why: 'its session is gone' };
  // Another role's session without pg_read_all_stats: its state is hidden.
  if (state === undefined) return { state: 'unknown', why: 'its session is not visible to the check' };
  if (state === 'active' || state === 'fastpath function call') {
    const now = String(row['started']);
    if (started !== undefined && now !== started) return { state: 'lost', why: 'its session is on another statement' };
    return { state: 'running', started: now };
  }
  if (state === 'disabled') return { state: 'unknown', why: 'track_activities is off' };
  // Finished just now: its answer may still be on its way.
  if (typeof row['idle_ms'] === 'number' && row['idle_ms'] < graceMs)
    return { state: 'unknown', why: `its session went ${state} just now` };
  return { state: 'lost', why: `its session is ${state}` };
}

async function ask(connection: unknown, timeoutMs: number, started: string | undefined, graceMs: number): Promise<SessionVerdict> {
  const client = connection as SilentClient;
  const origin = origins.get(client);
  const pid = client.processID;
  if (!origin || typeof pid !== 'number') return { state: 'unknown', why: 'the connection has no known backend pid' };
  const base = typeof origin.config === 'object' && origin.config !== null ? origin.config : {};
  const checker = new origin.Base({
    ...base,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    application_name: 'sequelize-autoreconnect check',
  });
  checker.on('error', () => {});
  try {
    try {
      await checker.connect();
    } catch (error) {
      return connectVerdict(error);
    }
    const { rows } = await checker.query(SESSION_SQL, [pid]);
    return rowVerdict(rows[0], checker.processID, started, graceMs);
  } catch (error) {
    return { state: 'unknown', why: `the check failed (${error instanceof Error ? error.message : String(error)})` };
  } finally {
    // No graceful end: a check that got no answer would wait for that too.
    try {
      checker.connection?.stream?.destroy();
    } catch {
      // Nothing to report: the check's verdict stands.
    }
  }
}

export const postgresSilence: SilenceProbe = {
  bytesRead: (connection) => (connection as SilentClient).connection?.stream?.bytesRead,
  ask,
  cut: (connection, error) => (connection as SilentClient).connection?.stream?.destroy(error),
  keepAlive: (connection) => (connection as SilentClient).connection?.stream?.setKeepAlive?.(true, 1000),
};
