import type { Sequelize, Transaction } from 'sequelize';
import type { DialectClassifier } from './classify';
import type { ReconnectConfig } from './hooks';
import type { CarriesOperation } from './operation';
import type { CarriesModel, PolicySource } from './policy';
import type { ReconnectStats } from './stats';

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
}

/** Everything the patches of one Sequelize instance share. */
export interface PluginState extends PolicySource {
  readonly sequelize: Sequelize;
  readonly classifier: DialectClassifier;
  readonly stats: ReconnectStats;
  readonly connectionManager: ConnectionManagerLike;
  /** Sequelize's own `getConnection`, unpatched. */
  readonly acquireOnce: (options: AcquireOptions) => Promise<Connection>;
  readonly redact: (text: string) => string;
}

/** The config the next connection for these acquire options will be made with. */
export function configFor(state: PluginState, options: AcquireOptions): ReconnectConfig {
  const { config } = state.connectionManager;
  if (!config.replication) return config;
  const read = options.type === 'SELECT' && !options.useMaster;
  // Sequelize rotates among read replicas when it connects; the first stands for them until
  // per-pool hooks exist.
  return read && config.replication.read[0] ? config.replication.read[0] : config.replication.write;
}
