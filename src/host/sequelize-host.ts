import type { Model, ModelStatic } from 'sequelize';
import type { Dialect, DriverTap } from '../dialects';
import type { AcquireOptions, Connection, HostPort, PoolName, QueryLike, TransactionLike } from '../engine/port';
import type { ReconnectConfig } from '../hooks';
import { knock } from './knock';
import type { Internals } from './probe';

/** Sequelize query types that only read. A raw `sequelize.query(sql)` is `RAW` and counts as a write. */
const READ_TYPES = new Set(['SELECT', 'SHOWTABLES', 'SHOWINDEXES', 'DESCRIBE', 'VERSION', 'FOREIGNKEYS', 'SHOWCONSTRAINTS']);

/** Sequelize's query types for model writes: one INSERT / UPDATE / DELETE statement each. */
const WRITE_TYPES = new Set(['INSERT', 'UPDATE', 'BULKUPDATE', 'BULKDELETE', 'DELETE', 'UPSERT']);

/** A driver connection as Sequelize's pool and transactions mark it. */
interface SequelizeConnection {
  _invalid?: boolean;
  uuid?: string;
  queryType?: 'read' | 'write';
}
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Hookable {
  // Sequelize returns undefined, not false, for a name that never had hooks.
  hasHook(name: string): boolean | undefined;
  runHooks(name: string, ...args: unknown[]): Promise<unknown>;
}

/**
 * The engine's view of one Sequelize v6 instance. `acquireOnce` and `runAgain` are Sequelize's
 * own `getConnection` and `Query.run`, taken before the patches replace them.
 */
export function sequelizeHost(
  internals: Internals,
  dialect: Dialect,
  acquireOnce: (options: AcquireOptions) => Promise<Connection>,
  runOnce: (query: QueryLike, sql: string, parameters: unknown) => Promise<unknown>,
  tap: () => DriverTap | undefined,
): HostPort {
  const cm = internals.connectionManager;
  const sequelize = internals.sequelize as unknown as Hookable;
  const hookable = (model: ModelStatic<Model> | undefined) => model as unknown as Hookable | undefined;
  // `Sequelize.addHook(…)` on the class (or a subclass the instance was made from): Sequelize
  // itself runs class-level hooks only for beforeInit / afterInit, so the plugin runs ours.
  const shared = (internals.sequelize as object).constructor as unknown as Partial<Hookable>;
  const hasShared = (name: string) => typeof shared.hasHook === 'function' && !!shared.hasHook(name);
  const configOf = (pool: PoolName): ReconnectConfig => {
    const { config } = cm;
    if (!config.replication) return config;
    return pool === 'read' && config.replication.read[0] ? config.replication.read[0] : config.replication.write;
  };
  return {
    acquireOnce,
    // With several read replicas the pool picks one per connection: no single address to knock.
    knock: (pool, timeoutMs) =>
      pool === 'read' && cm.config.replication && cm.config.replication.read.length > 1
        ? Promise.resolve('unknown')
        : knock(configOf(pool), timeoutMs),
    release: (connection) => cm.releaseConnection(connection),
    destroy: (connection) => {
      cm.destroyConnection(connection).catch(() => {});
    },
    // Sequelize's pool validates idle connections with this flag (its `validate`).
    invalidate: (connection) => {
      (connection as SequelizeConnection)._invalid = true;
    },
    // Sequelize notes the pool a connection came from on the connection.
    poolOf: (connection) => (connection as SequelizeConnection).queryType ?? 'write',
    moveStatement: (query, connection) => {
      const transaction: Mutable<TransactionLike> | null | undefined = query.options.transaction;
      if (transaction) {
        // What Sequelize's transaction.js does with the connection it acquires for a transaction.
        transaction.connection = connection;
        (connection as SequelizeConnection).uuid = transaction.id;
      }
      (query as Mutable<QueryLike>).connection = connection;
    },
    runAgain: runOnce,
    // Sequelize's transaction.js acquires a transaction's connection with these.
    transactionAcquireOptions: (transaction: TransactionLike) => ({
      uuid: transaction.id,
      type: transaction.options.readOnly ? 'SELECT' : undefined,
    }),
    isRead: (type) => READ_TYPES.has(type ?? ''),
    writeKind: (type) => (WRITE_TYPES.has(type ?? '') ? 'write' : type === undefined || type === 'RAW' ? 'raw' : 'read'),
    formatError: (query, error) => {
      const q = query as unknown as { formatError?: (error: unknown, stack?: string) => unknown };
      if (typeof q.formatError !== 'function' || !(error instanceof Error)) return error;
      // Sequelize's formatError throws some of its errors (42704 on a constraint or an index).
      try {
        return q.formatError(error, error.stack);
      } catch (formatted) {
        return formatted;
      }
    },
    // Sequelize's own rule: reads go to the read pool unless told to use the primary.
    poolFor: (options) => (cm.config.replication && options.type === 'SELECT' && !options.useMaster ? 'read' : 'write'),
    get replicated() {
      return !!cm.config.replication;
    },
    configOf,
    maxPoolSize: () => Math.max(cm.pool.maxSize ?? 0, cm.pool.read?.maxSize ?? 0, cm.pool.write?.maxSize ?? 0),
    hasHook: (model, name) => !!sequelize.hasHook(name) || !!hookable(model)?.hasHook(name) || hasShared(name),
    // The model's hooks, the instance's (Sequelize's own runHooks adds them), then the class's.
    runHooks: async (model, name, context) => {
      await (hookable(model) ?? sequelize).runHooks(name, context);
      if (hasShared(name)) await shared.runHooks!(name, context);
    },
    // By name: an application may load another copy of Sequelize's error classes.
    acquireTimeoutMs: () => {
      const pool = cm.config['pool'] as { acquire?: unknown } | undefined;
      return typeof pool?.acquire === 'number' ? pool.acquire : 60_000;
    },
    isPoolExhausted: (error) => (error as { name?: unknown } | null)?.name === 'SequelizeConnectionAcquireTimeoutError',
    adopt: (connection) => {
      const statements = dialect.driverStatements;
      const driverTap = tap();
      if (statements && driverTap) statements.adopt(connection, driverTap);
    },
    ping: (connection) => dialect.ping(connection),
    readOnlyBySettings: (connection) => dialect.readOnlyBySettings?.(connection) ?? Promise.resolve(false),
    debug: internals.debug,
  };
}
