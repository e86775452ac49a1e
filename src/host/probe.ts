import { Model, type Sequelize } from 'sequelize';
import type { AcquireOptions, Connection } from '../engine/port';
import type { ReconnectConfig } from '../hooks';
import { debug, hookTable, HOOK_NAMES, PoolTimeoutError, poolDebug, sequelizeVersion } from './internals';

type Fn = (...args: never[]) => unknown;

/** The parts of Sequelize's ConnectionManager the plugin uses. */
export interface ConnectionManagerInternals {
  config: ReconnectConfig & { replication?: { read: ReconnectConfig[]; write: ReconnectConfig } | false };
  pool: {
    acquire(type?: string, useMaster?: boolean): Promise<Connection>;
    maxSize?: number;
    read?: { maxSize: number };
    write?: { maxSize: number };
  };
  getConnection(options?: AcquireOptions): Promise<Connection>;
  releaseConnection(connection: Connection): void;
  destroyConnection(connection: Connection): Promise<void>;
  /** The pool's factory: opens one connection with these settings. */
  _connect(config: ReconnectConfig): Promise<Connection>;
  /** The dialect's own: closes a driver connection gracefully (the pool's destroy, through `_disconnect`). */
  disconnect(connection: Connection): Promise<void>;
  /** The dialect's own: creates a driver connection with `lib` before its first `await`, then sets it up. */
  connect(config: ReconnectConfig): Promise<Connection>;
  /** The driver module (`dialectModule`, or the one Sequelize loaded). */
  lib: object;
  close(): Promise<void>;
}

/** A dialect's Query class: Sequelize creates each statement's with `sequelize.dialect.Query`. */
export type QueryClass = new (...args: never[]) => {
  connection: Connection;
  options: AcquireOptions;
  run(sql: string, parameters?: unknown): Promise<unknown>;
  formatError(error: unknown, stack?: string): unknown;
};

export interface QueryInterfaceInternals {
  rawSelect: (
    this: unknown,
    tableName: unknown,
    options: object | undefined,
    attributeSelector: unknown,
    model?: unknown,
  ) => Promise<unknown>;
  bulkDelete: (this: unknown, tableName: unknown, where: unknown, options: object | undefined, model?: unknown) => Promise<unknown>;
}

/** What the plugin uses of the instance beyond its public API. */
export interface SequelizeInternals {
  readonly options: { databaseVersion?: string | number };
  runHooks(name: string, ...args: unknown[]): Promise<void>;
}

export interface Internals {
  readonly sequelize: SequelizeInternals;
  readonly connectionManager: ConnectionManagerInternals;
  readonly dialect: { Query: QueryClass };
  readonly queryInterface: QueryInterfaceInternals;
  readonly debug: (message: string) => void;
}

const isFn = (value: unknown): value is Fn => typeof value === 'function';

/**
 * Checks, at `use()`, every internal of Sequelize that the plugin will touch, and fails at once
 * with an error naming each one missing and the installed Sequelize version, rather than
 * failing (or, worse, quietly doing less) at the first lost connection.
 */
export function probe(sequelize: Sequelize): Internals {
  const s = sequelize as unknown as Record<string, unknown>;
  const missing: string[] = [];
  const need = (ok: boolean, what: string): void => {
    if (!ok) missing.push(what);
  };
  const cm = (s['connectionManager'] ?? {}) as Record<string, unknown>;
  // Sequelize's close() replaces getConnection on the instance with one that always throws
  // (another wrapper of it, an instrumentation's, is no sign of a closed instance).
  const own: unknown = Object.getOwnPropertyDescriptor(cm, 'getConnection')?.value;
  if (typeof own === 'function' && Function.prototype.toString.call(own).includes('connection manager was closed')) {
    throw new Error(
      'sequelize-autoreconnect: use() was called after sequelize.close(); this instance can no longer connect. Install the plugin on an open instance, before closing it',
    );
  }
  need(typeof s['connectionManager'] === 'object', 'sequelize.connectionManager');
  for (const name of ['getConnection', 'releaseConnection', 'destroyConnection', '_connect', 'connect', 'disconnect', 'close']) {
    need(isFn(cm[name]), `connectionManager.${name}()`);
  }
  need(typeof cm['config'] === 'object' && cm['config'] !== null, 'connectionManager.config');
  need(typeof cm['lib'] === 'object' || isFn(cm['lib']), 'connectionManager.lib (the driver module)');
  const config = (cm['config'] ?? {}) as ConnectionManagerInternals['config'];
  const pool = (cm['pool'] ?? {}) as ConnectionManagerInternals['pool'];
  if (config.replication) {
    need(typeof pool.read?.maxSize === 'number' && typeof pool.write?.maxSize === 'number', 'connectionManager.pool.read/write.maxSize');
  } else {
    need(typeof pool.maxSize === 'number', 'connectionManager.pool.maxSize');
  }
  need(isFn((pool as Record<string, unknown>)['acquire']), 'connectionManager.pool.acquire()');
  need(typeof s['options'] === 'object' && s['options'] !== null, 'sequelize.options');
  need(!!PoolTimeoutError && !!poolDebug, "sequelize-pool's TimeoutError and Sequelize's pool logger");
  const Query = (s['dialect'] as { Query?: unknown } | undefined)?.Query;
  const queryProto = (isFn(Query) ? Query.prototype : {}) as { run?: unknown; formatError?: unknown };
  need(isFn(queryProto.run) && isFn(queryProto.formatError), 'sequelize.dialect.Query.prototype.run() / formatError()');
  const qi = (isFn(s['getQueryInterface']) ? s['getQueryInterface'].call(sequelize) : {}) as Record<string, unknown>;
  // The model is their fourth argument: the patch tags options with it.
  need(isFn(qi['rawSelect']) && qi['rawSelect'].length === 4, 'queryInterface.rawSelect(tableName, options, attributeSelector, model)');
  need(isFn(qi['bulkDelete']) && qi['bulkDelete'].length === 4, 'queryInterface.bulkDelete(tableName, where, options, model)');
  need(
    isFn(s['hasHook']) &&
      isFn(s['runHooks']) &&
      isFn((Model as unknown as Record<string, unknown>)['hasHook']) &&
      isFn((Model as unknown as Record<string, unknown>)['runHooks']),
    'hasHook() / runHooks()',
  );
  need(!!hookTable && HOOK_NAMES.every((name) => hookTable![name] !== undefined), "sequelize/lib/hooks' table of hook names");
  need(debug !== undefined, 'sequelize/lib/utils/logger');
  if (missing.length > 0) {
    throw new Error(
      `sequelize-autoreconnect cannot work with the installed Sequelize ${sequelizeVersion}: it lacks ${missing.join(', ')}. ` +
        'The plugin supports Sequelize 6.37 and later 6.x.',
    );
  }
  return {
    sequelize: sequelize as unknown as SequelizeInternals,
    connectionManager: cm as unknown as ConnectionManagerInternals,
    dialect: s['dialect'] as { Query: QueryClass },
    queryInterface: qi as unknown as QueryInterfaceInternals,
    debug: debug!,
  };
}

/** The settings the instance was made with (`new Sequelize(…, options)`), as Sequelize keeps them. */
export function sequelizeConfig(sequelize: Sequelize): Readonly<Record<string, unknown>> {
  return (sequelize as unknown as { config: Record<string, unknown> }).config;
}

/** Every password the instance connects with (replicas' too), for redaction. */
export function* configuredPasswords(cm: ConnectionManagerInternals): Iterable<string> {
  const configs = cm.config.replication ? [cm.config, cm.config.replication.write, ...cm.config.replication.read] : [cm.config];
  for (const config of configs) {
    if (typeof config.password === 'string') yield config.password;
  }
}
