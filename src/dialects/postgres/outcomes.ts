import type { TransactionStatus } from '../../core/settle';
import type { OutcomeQueries, TransactionIds } from '../types';

interface Result {
  rows: Array<Record<string, unknown>>;
}
interface Client {
  query(sql: string, values?: unknown[]): Promise<Result | Result[]>;
}

const client = (connection: unknown): Client => connection as Client;

/** xid8 (PostgreSQL 13+) is not subject to wraparound, so a status answer is about this very transaction. */
const BEGIN = 'BEGIN; SELECT pg_current_xact_id()::text AS xid, pg_backend_pid() AS pid';
const IDS = 'SELECT pg_current_xact_id_if_assigned()::text AS xid, pg_backend_pid() AS pid';

const VERSION = "SELECT pg_catalog.current_setting('server_version_num') AS num, pg_catalog.current_setting('server_version') AS version";

/** pg_current_xact_id and pg_xact_status came with PostgreSQL 13. */
export function versionUnsupported(num: number, version: string): string | undefined {
  return num >= 130000 ? undefined : `PostgreSQL 13 or later is needed; this server is PostgreSQL ${version} (server_version_num ${num})`;
}

function idsOf(result: Result | undefined): TransactionIds {
  const row = result?.rows[0];
  const xid = row?.['xid'];
  return { xid: typeof xid === 'string' ? xid : null, pid: Number(row?.['pid']) };
}

/**
 * Ends the session only while it still runs that transaction (`backend_xid` is the low 32 bits
 * of the xid8), so a pid reused by another session is never touched.
 */
const END_SESSION = `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
  WHERE pid = $1 AND backend_xid::text = (($2::text)::numeric % 4294967296)::text`;

/** PostgreSQL: the server numbers transactions and remembers how each one ended. */
export const postgresOutcomes: OutcomeQueries = {
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
      const result = (await client(connection).query('SELECT pg_xact_status($1::text::xid8) AS status', [ids.xid])) as Result;
      const status = result.rows[0]?.['status'];
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
