import { askByServer, objectIds, type ServerBatch, type SessionAddress } from '../silence-groups';
import type { CheckBounds, SessionVerdict, SilenceProbe, SilentSession } from '../types';

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

/** How a client of the plugin's was made: the check connection is made the same way, unguarded. */
interface Origin {
  readonly Base: ClientClass;
  readonly config: unknown;
}
const origins = new WeakMap<object, Origin>();
const classIds = objectIds();

export function rememberOrigin(client: object, Base: unknown, config: unknown): void {
  origins.set(client, { Base: Base as ClientClass, config });
}

/**
 * One round trip for every session asked about on a server: a row for each one found, or one
 * row with no session when none is. The checker's own pid tells a pooler in between (its pid
 * would not be the backend's).
 */
const SESSIONS_SQL = `SELECT pg_backend_pid() AS me, a.pid, a.state, a.query_start::text AS started,
  (extract(epoch FROM clock_timestamp() - a.state_change) * 1000)::float8 AS idle_ms
  FROM (SELECT 1) AS one LEFT JOIN pg_stat_activity AS a ON a.pid = ANY($1::int[])`;

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

const NO_PID: SessionVerdict = { state: 'unknown', why: 'the connection has no known backend pid' };

/** The server a client's check connects to: sessions of one role on one database are asked about together. */
function address(connection: unknown): SessionAddress<Origin, number> | undefined {
  if (typeof connection !== 'object' || connection === null) return undefined;
  const origin = origins.get(connection);
  const pid = (connection as SilentClient).processID;
  if (!origin || typeof pid !== 'number') return undefined;
  const config = (typeof origin.config === 'object' && origin.config !== null ? origin.config : {}) as Record<string, unknown>;
  const server = [classIds(origin.Base), config['host'], config['port'], config['database'], config['user']].join('\u0000');
  return { origin, server, id: pid };
}

/** The row of `pid` among those the check returned; none: its session is gone (the one row left joined to nothing). */
function rowOf(rows: Array<Record<string, unknown>>, pid: number): Record<string, unknown> | undefined {
  return rows.find((row) => row['pid'] === pid) ?? (rows[0] && { ...rows[0], pid: null, state: null });
}

async function askServer({ origin, ids, started }: ServerBatch<Origin, number>, { connectMs, answerMs, graceMs }: CheckBounds) {
  const base = typeof origin.config === 'object' && origin.config !== null ? origin.config : {};
  const checker = new origin.Base({
    ...base,
    connectionTimeoutMillis: connectMs,
    query_timeout: answerMs,
    application_name: 'sequelize-autoreconnect check',
  });
  checker.on('error', () => {});
  const all = (verdict: SessionVerdict) => () => verdict;
  try {
    try {
      await checker.connect();
    } catch (error) {
      return all(connectVerdict(error));
    }
    const { rows } = await checker.query(SESSIONS_SQL, [ids]);
    return (index: number) => rowVerdict(rowOf(rows, ids[index]!), checker.processID, started[index], graceMs);
  } catch (error) {
    return all({ state: 'unknown', why: `the check failed (${error instanceof Error ? error.message : String(error)})` });
  } finally {
    // No graceful end: a check that got no answer would wait for that too.
    try {
      checker.connection?.stream?.destroy();
    } catch {
      // Nothing to report: the check's verdict stands.
    }
  }
}

const ask = (subjects: readonly SilentSession[], bounds: CheckBounds): Promise<SessionVerdict[]> =>
  askByServer(subjects, address, NO_PID, (batch) => askServer(batch, bounds));

export const postgresSilence: SilenceProbe = {
  bytesRead: (connection) => (connection as SilentClient).connection?.stream?.bytesRead,
  ask,
  cut: (connection, error) => (connection as SilentClient).connection?.stream?.destroy(error),
  keepAlive: (connection) => (connection as SilentClient).connection?.stream?.setKeepAlive?.(true, 1000),
};
