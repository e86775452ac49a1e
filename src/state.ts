import type { Sequelize, Transaction } from 'sequelize';
import type { DialectClassifier } from './classify/types';
import type { ConnectionStamps, PoolMarks } from './hygiene';
import type { ReconnectConfig } from './hooks';
import type { CarriesOperation } from './operation';
import type { CarriesModel, PolicySource } from './policy';
import type { ResolvedPluginOptions } from './options';
import type { ReconnectStats } from './stats';
import type { Backoffs } from './timing';

/** A driver connection as Sequelize's pool holds it. */
export interface Connection {
  _invalid?: boolean;
  uuid?: string | undefined;
  queryType?: 'read' | 'write';
}

/** What Sequelize passes to `connectionManager.getConnection`. */
export interface AcquireOptions extends CarriesOperation, CarriesModel {
  type?: string;
  useMaster?: boolean;
  uuid?: string;
  transaction?: Transaction | null;
}

/** The parts of Sequelize's ConnectionManager the plugin uses. */
export interface ConnectionManagerLike {
  config: ReconnectConfig & { replication?: { read: ReconnectConfig[]; write: ReconnectConfig } | false };
  getConnection(options?: AcquireOptions): Promise<Connection>;
  releaseConnection(connection: Connection): void;
  destroyConnection(connection: Connection): Promise<void>;
  _connect(config: ReconnectConfig): Promise<Connection>;
  close(): Promise<void>;
  pool: { maxSize?: number; read?: { maxSize: number }; write?: { maxSize: number } };
}

/** What the plugin knows of one connection. */
export interface ConnectionRecord extends ConnectionStamps {
  /** The settings it was opened with: the write config or one read replica's. */
  readonly config: ReconnectConfig;
}

export type PoolName = 'read' | 'write';

/** Everything the patches of one Sequelize instance share. */
export interface PluginState extends PolicySource {
  readonly options: ResolvedPluginOptions;
  readonly sequelize: Sequelize;
  readonly classifier: DialectClassifier;
  readonly ping: (connection: Connection) => Promise<void>;
  readonly records: WeakMap<Connection, ConnectionRecord>;
  /** Which settings, and which password, a failed connection attempt used, by its error. */
  readonly failedAttempts: WeakMap<object, { readonly config: ReconnectConfig; readonly password: unknown }>;
  /** Without replication everything is the `write` pool. */
  readonly marks: Record<PoolName, PoolMarks>;
  readonly stats: ReconnectStats;
  readonly connectionManager: ConnectionManagerLike;
  /** Sequelize's own `getConnection`, unpatched. */
  readonly acquireOnce: (options: AcquireOptions) => Promise<Connection>;
  readonly redact: (text: string) => string;
  /** Operations sleeping between attempts, woken together once the server answers or on close. */
  readonly backoffs: Backoffs;
  /** `sequelize.close()` was called: nothing starts another attempt. */
  closed: boolean;
}

/** Which of Sequelize's pools these acquire options draw from (Sequelize's own rule). */
export function poolFor(state: PluginState, options: AcquireOptions): PoolName {
  return state.connectionManager.config.replication && options.type === 'SELECT' && !options.useMaster ? 'read' : 'write';
}

/** Which pool a connection belongs to. */
export function poolOf(connection: Connection): PoolName {
  return connection.queryType ?? 'write';
}

/**
 * The settings the next connection will be made with: the failed connection's own (one
 * replica's, with replication), else the pool's. A hook that changes them changes that host's.
 */
export function configFor(state: PluginState, pool: PoolName, connection?: Connection): ReconnectConfig {
  const known = connection && state.records.get(connection)?.config;
  if (known) return known;
  const { config } = state.connectionManager;
  if (!config.replication) return config;
  return pool === 'read' && config.replication.read[0] ? config.replication.read[0] : config.replication.write;
}
