import type { Dialect, DriverCallback, DriverTap } from '../types';
import { postgresClassifier } from './classify';
import { postgresOutcomes } from './outcomes';
import { postgresSilence, rememberOrigin } from './silence';

interface EventedClient {
  on(event: 'error', listener: (error: Error) => void): unknown;
  end(): Promise<void>;
  query(config: unknown, values?: unknown, callback?: unknown): unknown;
  _invalid?: boolean;
  /** pg's protocol connection, and its socket. */
  connection?: { stream?: { destroy(error?: Error): void } };
}
type ClientClass = new (config: unknown) => EventedClient;
type Query = EventedClient['query'];

/** Clients with the plugin's error listener (and tap), whichever instance's they are. */
const hardened = new WeakSet();

/** An errored client never works again: marked invalid, so the pool never hands it out, and closed. */
function watchErrors(client: EventedClient): void {
  hardened.add(client);
  client.on('error', () => {
    client._invalid = true;
    // Closed even if Sequelize lost track of it (it does when its post-connect statements fail): no socket outlives the session.
    try {
      client.end().catch(() => {});
    } catch {
      // An event listener must not throw: the process would crash.
    }
  });
}

/**
 * pg's `query`, handing the tap the statements it watches (Sequelize's calls: `(text, values, callback)` or `(text, callback)`).
 * Calls it passes on keep their arguments as they came: a trailing `undefined` added here would hide the callback from
 * wrappers of pg's `query` that look for it last (OpenTelemetry's pg instrumentation then never ends the statement's span).
 */
function tapped(query: Query, tap: DriverTap): Query {
  return function (this: EventedClient, config: unknown, values?: unknown, callback?: unknown) {
    if (tap.armed) {
      if (typeof values === 'function') return query.call(this, config, tap.take(this, config, undefined, values as DriverCallback));
      if (typeof callback === 'function')
        return query.call(this, config, values, tap.take(this, config, values, callback as DriverCallback));
    }
    // `arguments`, not a rest parameter: no array made for every statement.
    // eslint-disable-next-line prefer-rest-params
    return query.apply(this, arguments as unknown as Parameters<Query>);
  };
}

/**
 * Sequelize attaches its `error` listener to a new pg client only once connecting has
 * resolved, a few microtasks later. A FATAL that arrives with the last startup message (a
 * server shutting down just then) finds no listener, and Node turns that unhandled `error`
 * event into a crash of the whole process. This instance's clients get a listener from birth,
 * for their whole life (connecting, idle, in use, being destroyed, after close), and the tap.
 * The driver module itself is left as it is: other instances, and the application, share it.
 */
function guardPg(lib: object, tap: DriverTap | undefined, created: (connection: object) => void): object {
  const Base = (lib as { Client?: unknown }).Client;
  if (typeof Base !== 'function') return lib;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- it becomes the subclass's own method: `this` is the client
  const query = tap && tapped((Base as unknown as { prototype: EventedClient }).prototype.query, tap);
  class GuardedClient extends (Base as ClientClass) {
    constructor(config: unknown) {
      super(config);
      rememberOrigin(this, Base, config);
      watchErrors(this);
      created(this);
    }
  }
  if (query) Object.defineProperty(GuardedClient.prototype, 'query', { value: query, writable: true, configurable: true });
  return Object.create(lib, { Client: { value: GuardedClient } }) as object;
}

/** A client opened before the plugin was installed: guarded, and tapped, from its first checkout. */
function adoptPgClient(connection: unknown, tap: DriverTap): void {
  const client = connection as EventedClient;
  if (hardened.has(client)) return;
  watchErrors(client);
  // eslint-disable-next-line @typescript-eslint/unbound-method -- it becomes this client's own method: `this` is the client
  client.query = tapped(client.query, tap);
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
  // pg-native reports errors in other shapes and has no socket events: the classifier and the guard would miss them.
  unsupported: (config) =>
    config['native'] ? 'option `native: true` (pg-native) is not supported; remove it to use the pure JavaScript pg driver' : undefined,
  guardDriver: guardPg,
  destroyDriverConnection: (connection) => {
    (connection as EventedClient).end().catch(() => {});
  },
  // `end()` would wait for a server that does not answer: the socket goes now, and pg fails the connect.
  abortDriverConnection: (connection) => {
    (connection as EventedClient).connection?.stream?.destroy();
  },
  outcomes: postgresOutcomes,
  silence: postgresSilence,
};
