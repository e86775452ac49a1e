import type { ModelStatic, Model, Sequelize, Transaction } from 'sequelize';
import type { HookReturn } from 'sequelize/types/hooks';
import { decoratedHooks } from './decorators';

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
  /** `'connect'`: opening a connection failed; `'query'`: a statement's connection was lost. */
  readonly phase: 'connect' | 'query';
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

export const HOOK_NAMES = ['beforeReconnect', 'afterReconnect'] as const;
export type ReconnectHookName = (typeof HOOK_NAMES)[number];

interface HookTypeTable {
  [name: string]: { params: number; sync?: boolean; noModel?: boolean; proxies?: string[] };
}

/**
 * Sequelize v6 has a fixed table of hook names; `addHook` and the constructor's `hooks`
 * option throw for names missing from it. Adding ours is the one shared change we make.
 */
export function registerHookNames(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const table = (require('sequelize/lib/hooks') as { hooks: HookTypeTable }).hooks;
  for (const name of HOOK_NAMES) table[name] ??= { params: 1 };
}

interface Hookable {
  // Sequelize returns undefined, not false, for a name that never had hooks.
  hasHook(name: string): boolean | undefined;
  runHooks(name: string, ...args: unknown[]): Promise<unknown>;
}

/** Are there hooks of this name for this model (decorated or added) or the instance? */
export function hasReconnectHook(sequelize: Sequelize, model: ModelStatic<Model> | undefined, name: ReconnectHookName): boolean {
  if ((sequelize as unknown as Hookable).hasHook(name)) return true;
  return !!model && (decoratedHooks(model, name).length > 0 || !!(model as unknown as Hookable).hasHook(name));
}

/**
 * Runs the model's hooks (decorated methods first, then added ones), then the instance's,
 * awaiting each, as Sequelize orders model and instance hooks.
 */
export async function runReconnectHook(
  sequelize: Sequelize,
  name: ReconnectHookName,
  context: ReconnectContext | AfterReconnectContext,
): Promise<void> {
  const { model } = context;
  if (model) {
    for (const hook of decoratedHooks(model, name)) await hook.call(model, context);
  }
  const target = (model ?? sequelize) as unknown as Hookable;
  if (target.hasHook(name) || (sequelize as unknown as Hookable).hasHook(name)) await target.runHooks(name, context);
}
