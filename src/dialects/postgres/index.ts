import type { Dialect, DriverCallback, DriverTap } from '../types';
import { postgresClassifier } from './classify';
import { postgresOutcomes } from './outcomes';

interface EventedClient {
  on(event: 'error', listener: (error: Error) => void): unknown;
  end(): Promise<void>;
  query(config: unknown, values?: unknown, callback?: unknown): unknown;
  _invalid?: boolean;
}
type ClientClass = new (config: unknown) => EventedClient;
interface WithDriver {
  lib?: { Client?: ClientClass };
}

/** An errored client never works again: marked invalid, so the pool never hands it out, and closed. */
function watchErrors(client: EventedClient): void {
  client.on('error', () => {
    client._invalid = true;
    // Closed even if Sequelize lost track of it (it does when its post-connect statements fail): no socket outlives the session.
    client.end().catch(() => {});
  });
}

/**
 * Sequelize attaches its `error` listener to a new pg client only once connecting has
 * resolved, a few microtasks later. A FATAL that arrives with the last startup message (a
 * server shutting down just then) finds no listener, and Node turns that unhandled `error`
 * event into a crash of the whole process. This instance's clients get a listener from birth,
 * for their whole life (connecting, idle, in use, being destroyed, after close). Their `query`
 * hands the engine the statements it watches (Sequelize's calls: `(text, values, callback)` or
 * `(text, callback)`).
 */
function guardPgClient(connectionManager: object, tap?: DriverTap): void {
  const cm = connectionManager as WithDriver;
  const Base = cm.lib!.Client!;
  class GuardedClient extends Base {
    constructor(config: unknown) {
      super(config);
      watchErrors(this);
    }

    override query(config: unknown, values?: unknown, callback?: unknown): unknown {
      if (!tap?.armed) return super.query(config, values, callback);
      if (typeof values === 'function') return super.query(config, tap.take(this, config, undefined, values as DriverCallback));
      if (typeof callback === 'function') return super.query(config, values, tap.take(this, config, values, callback as DriverCallback));
      return super.query(config, values, callback);
    }
  }
  cm.lib = Object.create(cm.lib!, { Client: { value: GuardedClient } }) as { Client: ClientClass };
}

/** A client opened before the plugin was installed: guarded, and tapped, from its first checkout. */
function adoptPgClient(connectionManager: object, connection: unknown): void {
  const Guarded = (connectionManager as WithDriver).lib!.Client!;
  if (connection instanceof Guarded) return;
  const client = connection as EventedClient;
  watchErrors(client);
  // eslint-disable-next-line @typescript-eslint/unbound-method -- it becomes this client's own method: `this` is the client
  client.query = (Guarded.prototype as EventedClient).query;
}

interface QueryableClient {
  query(sql: string): Promise<unknown>;
}

/**
 * Where `default_transaction_read_only` may come from when the application set it: `ALTER ROLE`
 * / `ALTER DATABASE … SET`, the connection's startup options, `SET`. Not the server's own
 * configuration (postgresql.conf, `ALTER SYSTEM`): that is how a demoted primary may be fenced.
 */
const APPLICATION_SOURCES = new Set(['database', 'user', 'database user', 'client', 'session']);

async function readOnlyBySettings(connection: unknown): Promise<boolean> {
  const result = (await (connection as QueryableClient).query(
    "SELECT pg_is_in_recovery() AS recovery, source FROM pg_settings WHERE name = 'default_transaction_read_only'",
  )) as { rows: Array<{ recovery: boolean; source: string }> };
  const row = result.rows[0];
  return row !== undefined && !row.recovery && APPLICATION_SOURCES.has(row.source);
}

/** PostgreSQL through node-postgres (pg), with pgbouncer or HAProxy in front or not. */
export const postgres: Dialect = {
  name: 'postgres',
  classifier: postgresClassifier,
  ping: async (connection) => {
    await (connection as QueryableClient).query('SELECT 1');
  },
  readOnlyBySettings,
  // Sequelize's postgres Query resolves a statement without rows to [rows, rowCount].
  rolledBackResult: () => [[], 0],
  driverStatements: {
    rerun: (connection, config, values) =>
      new Promise((resolve, reject) => {
        const done = (error: Error | null, result: unknown) => (error ? reject(error) : resolve(result));
        if (values === undefined) (connection as EventedClient).query(config, done);
        else (connection as EventedClient).query(config, values, done);
      }),
    // What pg reports for a ROLLBACK: Sequelize makes of it what it makes of a real one.
    rolledBack: () => ({ command: 'ROLLBACK', rowCount: null, oid: null, rows: [], fields: [] }),
    adopt: adoptPgClient,
  },
  internals: [
    { name: 'connectionManager.lib.Client (the pg driver)', present: (cm) => typeof (cm as WithDriver).lib?.Client === 'function' },
  ],
  // pg-native reports errors in other shapes and has no socket events: the classifier and the guard would miss them.
  unsupported: (config) =>
    config['native'] ? 'option `native: true` (pg-native) is not supported; remove it to use the pure JavaScript pg driver' : undefined,
  guardDriver: guardPgClient,
  outcomes: postgresOutcomes,
};
