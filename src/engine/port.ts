import type { Model, ModelStatic } from 'sequelize';
import type { ReconnectHookName } from '../core/decorations';
import type { AfterReconnectContext, ReconnectConfig, ReconnectContext } from '../hooks';

/**
 * What the engine needs of its host (Sequelize v6, or a fake in unit tests). The engine never
 * reaches Sequelize except through this.
 */

/** A driver connection as Sequelize's pool holds it: opaque to the engine, which asks the host about it. */
export interface Connection {
  readonly [kConnection]?: never;
}
declare const kConnection: unique symbol;

export type PoolName = 'read' | 'write';

/** A TCP connection to a server's port: refused (nothing listens), taken, or anything else (see host/knock.ts). */
export type KnockResult = 'refused' | 'open' | 'unknown';

/** What Sequelize passes to `connectionManager.getConnection`. */
export interface AcquireOptions {
  type?: string;
  useMaster?: boolean;
  uuid?: string;
  transaction?: TransactionLike | null;
  model?: unknown;
  reconnect?: unknown;
}

/** A transaction as far as the plugin touches it. */
export interface TransactionLike {
  readonly id: string;
  readonly parent?: unknown;
  readonly connection: Connection;
  readonly options: { readonly readOnly?: boolean; readonly isolationLevel?: unknown };
}

/** A dialect Query instance as far as the plugin touches it. */
export interface QueryLike {
  readonly connection: Connection;
  readonly options: AcquireOptions;
}

export interface HostPort {
  /** One attempt at a connection: Sequelize's own `getConnection`, unpatched. */
  acquireOnce(options: AcquireOptions): Promise<Connection>;
  /** Whether the server a new connection of this pool would go to takes a TCP connection (no login); never rejects. */
  knock(pool: PoolName, timeoutMs: number): Promise<KnockResult>;
  release(connection: Connection): void;
  /** Closes a connection and takes it out of the pool. */
  destroy(connection: Connection): void;
  /** Marks a connection that the pool must never hand out again (it may still be in use). */
  invalidate(connection: Connection): void;
  /** Which pool a connection belongs to (without replication, `write`). */
  poolOf(connection: Connection): PoolName;
  /** Puts a statement, and its transaction if it has one, on a new connection in place of its lost one. */
  moveStatement(query: QueryLike, connection: Connection): void;
  /** Runs a statement again on its query's (new) connection, past the plugin's patch. */
  runAgain(query: QueryLike, sql: string, parameters: unknown): Promise<unknown>;
  /** The options Sequelize acquires a transaction's connection with. */
  transactionAcquireOptions(transaction: TransactionLike): AcquireOptions;
  /** Sequelize's query types that only read. */
  isRead(type: string | undefined): boolean;
  /** A query type that reads, one of Sequelize's model writes, or raw SQL (which may be anything). */
  writeKind(type: string | undefined): 'read' | 'write' | 'raw';
  /**
   * A driver's error (one of the plugin's own statements) as the query's own Sequelize error
   * class, with its caller's stack: what its `run` would have thrown for it.
   */
  formatError(query: QueryLike, error: unknown): unknown;
  /** Which pool these options draw from, and whether there are two. */
  poolFor(options: AcquireOptions): PoolName;
  readonly replicated: boolean;
  /** The settings a new connection of this pool would be made with (the first replica's for reads). */
  configOf(pool: PoolName): ReconnectConfig;
  /** The largest pool's size: the bound on suspect connections and stale logins. */
  maxPoolSize(): number;
  /** Hooks of this name on the model (added with addHook), the instance or the Sequelize class. */
  hasHook(model: ModelStatic<Model> | undefined, name: ReconnectHookName): boolean;
  /** The model's hooks, then the instance's, then the class's (`Sequelize.addHook`). */
  runHooks(
    model: ModelStatic<Model> | undefined,
    name: ReconnectHookName,
    context: ReconnectContext | AfterReconnectContext,
  ): Promise<void>;
  /**
   * Sequelize's `ConnectionAcquireTimeoutError`: every pooled connection was busy until the
   * pool's `acquire` timeout. Nothing was lost; the caller gets it unchanged.
   */
  isPoolExhausted(error: unknown): boolean;
  /** The pool's `acquire` timeout: how long a caller waits for a connection. */
  acquireTimeoutMs(): number;
  /** Hardens (and taps) a driver connection the plugin did not open: one opened before `use()`. */
  adopt(connection: Connection): void;
  /** A round trip on a connection. */
  ping(connection: Connection): Promise<void>;
  /** Is this session read only by the application's own settings, on a server that is no standby? */
  readOnlyBySettings(connection: Connection): Promise<boolean>;
  debug(message: string): void;
}

/** Time and chance, injectable: unit tests run the engine on a clock of their own. */
export interface Clock {
  now(): number;
  random(): number;
  /**
   * Calls `fn` after `ms`; returns what cancels it. `background`: the timer never keeps the
   * process alive (a watchdog's tick, which has nothing to do once the application is done).
   */
  setTimer(fn: () => void, ms: number, background?: boolean): () => void;
  /** Lets pending I/O be seen before going on: a backoff of 0. */
  yieldToIO(): Promise<void>;
}
