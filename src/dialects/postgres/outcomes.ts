import { isPlainDml } from './dml';
import type { TransactionStatus } from '../../core/settle';
import type { OutcomeQueries, TransactionIds } from '../types';

interface Result {
  rows: Array<Record<string, unknown>>;
}
interface Client {
  query(sql: string, values?: unknown[]): Promise<Result | Result[]>;
}

const client = (connection: unknown): Client => connection as Client;

/**
 * The server's history: its cluster, the timeline it writes on, and when it started. A standby
 * promoted after a failover writes on a new timeline and, with asynchronous replication, hands
 * out again the ids of transactions it never received. A server that crashed (an immediate
 * shutdown) does the same on its own timeline for transactions whose WAL it had not written yet:
 * after restarting, its answer about one of them may be about another transaction (found by the
 * chaos run: a write settled as committed that was not there). A restart, clean or not, makes
 * its answers no answer. Null on a standby (it numbers nothing).
 */
const HISTORY = `CASE WHEN pg_is_in_recovery() THEN NULL
  ELSE (SELECT system_identifier FROM pg_control_system())::text || '/' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)
    || '/' || extract(epoch FROM pg_postmaster_start_time())::text END`;

/** xid8 (PostgreSQL 13+) is not subject to wraparound: within one history, an id names one transaction. */
const BEGIN = `BEGIN; SELECT pg_current_xact_id()::text AS xid, pg_backend_pid() AS pid, ${HISTORY} AS history`;
const IDS = `SELECT pg_current_xact_id_if_assigned()::text AS xid, pg_backend_pid() AS pid, ${HISTORY} AS history`;
const STATUS = `SELECT ${HISTORY} AS history, pg_xact_status($1::text::xid8) AS status`;

const VERSION = "SELECT pg_catalog.current_setting('server_version_num') AS num, pg_catalog.current_setting('server_version') AS version";

/** pg_current_xact_id and pg_xact_status came with PostgreSQL 13. */
export function versionUnsupported(num: number, version: string): string | undefined {
  return num >= 130000 ? undefined : `PostgreSQL 13 or later is needed; this server is PostgreSQL ${version} (server_version_num ${num})`;
}

function idsOf(result: Result | undefined): TransactionIds {
  const row = result?.rows[0];
  const xid = row?.['xid'];
  const history = row?.['history'];
  return { xid: typeof xid === 'string' ? xid : null, pid: Number(row?.['pid']), history: typeof history === 'string' ? history : null };
}

/**
 * Ends the session only while it still runs that transaction (`backend_xid` is the low 32 bits
 * of the xid8), so a pid reused by another session is never touched.
 */
const END_SESSION = `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
  WHERE pid = $1 AND backend_xid::text = (($2::text)::numeric % 4294967296)::text`;

/** PostgreSQL: the server numbers transactions and remembers how each one ended. */
export const postgresOutcomes: OutcomeQueries = {
  isPlainDml,
  begin: async (connection) => {
    const results = await client(connection).query(BEGIN);
    return idsOf(Array.isArray(results) ? results[1] : results);
  },
  ids: async (connection) => idsOf((await client(connection).query(IDS)) as Result),
  // 25P02 in_failed_sql_transaction.
  aborted: (error) => typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '25P02',
  unsupported: async (connection) => {
    const row = ((await client(connection).query(VERSION)) as Result).rows[0];
    return versionUnsupported(Number(row?.['num']), String(row?.['version']));
  },
  commit: async (connection) => {
    await client(connection).query('COMMIT');
  },
  rollback: async (connection) => {
    await client(connection).query('ROLLBACK');
  },
  status: async (connection, ids: TransactionIds): Promise<TransactionStatus> => {
    try {
      const result = (await client(connection).query(STATUS, [ids.xid])) as Result;
      const row = result.rows[0];
      // Another server history, or none known: its answer is not about this transaction.
      if (!ids.history || row?.['history'] !== ids.history) return 'unknown';
      const status = row['status'];
      return status === 'committed' || status === 'aborted' || status === 'in progress' ? status : 'unknown';
    } catch (error) {
      // 22023 "transaction ID ... is in the future": a server that never saw it (a promoted
      // standby behind the old primary). Anything else is a failure to ask.
      if ((error as { code?: unknown }).code === '22023') return 'unknown';
      throw error;
    }
  },
  endSession: async (connection, ids) => {
    const result = (await client(connection).query(END_SESSION, [ids.pid, ids.xid])) as Result;
    return result.rows[0]?.['ended'] === true;
  },
};
