import type { ModelStatic, Model, Transaction } from 'sequelize';
import type { HookReturn } from 'sequelize/types/hooks';
import type { ReconnectFailure } from './core/failure';

/**
 * The connection settings the next connection will be made with. Changing a field here (say
 * `password`, freshly fetched from Vault or signed by AWS RDS IAM) changes it for the connections
 * made from then on.
 */
export interface ReconnectConfig {
  host?: string;
  port?: number | string;
  username?: string;
  password?: string | null;
  database?: string;
  dialectOptions?: Record<string, unknown>;
  [key: string]: unknown;
}

/** What `beforeReconnect` hooks receive. */
export interface ReconnectContext {
  /** The failure that made a reconnect necessary. */
  readonly error: Error;
  /** Which retry this is: 1 for the first. */
  readonly attempt: number;
  /**
   * `'connect'`: opening a connection failed; `'query'`: a statement's connection was lost;
   * `'transaction'`: a managed transaction is about to be replayed (`replayTransactions`).
   */
  readonly phase: 'connect' | 'query' | 'transaction';
  /**
   * What the failure was, as the dialect classified it: `'auth'` (a login refused: refresh the
   * credentials), `'transient'` (no connection, for a reason that may pass), `'lost'` (the
   * connection died under a statement), `'read-only'` (the server became a read-only standby) or
   * `'conflict'` (a managed transaction hit a serialization failure or deadlock; `replayConflicts`).
   */
  readonly failure: ReconnectFailure;
  /**
   * The connection settings the next connection will use; mutable. With replication, the
   * settings of the host that failed (the write config, or that read replica's).
   */
  readonly config: ReconnectConfig;
  /** With replication: which of Sequelize's pools the connection is for. */
  readonly pool?: 'read' | 'write' | undefined;
  /** The host of `config`. */
  readonly host?: string | undefined;
  readonly sql?: string | undefined;
  readonly model?: ModelStatic<Model> | undefined;
  readonly transaction?: Transaction | undefined;
}

/** What `afterReconnect` hooks receive. */
export interface AfterReconnectContext extends ReconnectContext {
  /** A new connection was obtained. */
  readonly reconnected: boolean;
  /** Why not, when `reconnected` is false. */
  readonly reconnectError?: Error | undefined;
}

declare module 'sequelize/types/hooks' {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars, @typescript-eslint/no-explicit-any
  interface ModelHooks<M extends Model = Model, TAttributes = any> {
    /** Runs, and is awaited, before the plugin opens a connection to replace a lost one. Throwing aborts the retry. */
    beforeReconnect(context: ReconnectContext): HookReturn;
    /** Runs after the plugin tried to replace a lost connection; `context.reconnected` tells whether it worked. */
    afterReconnect(context: AfterReconnectContext): HookReturn;
  }
}

export type { ReconnectFailure } from './core/failure';
