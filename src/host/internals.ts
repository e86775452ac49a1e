/**
 * Every contact with Sequelize's internals, in one place: what the plugin requires of them
 * (loaded lazily, so that a missing one fails `use()` with a clear error rather than the import).
 * Public API (hooks, query types, errors) is used directly elsewhere.
 */
import { createRequire } from 'node:module';

type Debugger = (message: string) => void;

interface HookTypeTable {
  [name: string]: { params: number; sync?: boolean; noModel?: boolean; proxies?: string[] };
}

/** The names of the plugin's hooks, as Sequelize's hook table will know them. */
export const HOOK_NAMES = ['beforeReconnect', 'afterReconnect'] as const;

function load<T>(path: string, pick: (module: Record<string, unknown>) => T | undefined): T | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return pick(require(path) as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

/** `sequelize/lib/hooks`' table of hook names: `addHook` throws for names missing from it. */
export const hookTable = load('sequelize/lib/hooks', (m) => {
  const table = m['hooks'];
  return typeof table === 'object' && table !== null ? (table as HookTypeTable) : undefined;
});

/**
 * Adds our hook names to Sequelize's table, where it has one: the one shared change the plugin
 * makes (on import, so that a constructor's `hooks` option may name them). Without a table,
 * `use()` says so.
 */
export function registerHookNames(): void {
  if (!hookTable) return;
  for (const name of HOOK_NAMES) hookTable[name] ??= { params: 1 };
}

/** Sequelize's `debug` loggers: ours under `sequelize:autoreconnect`, so this adds no dependency. */
const debugContext = load('sequelize/lib/utils/logger', (m) => {
  const logger = m['logger'] as { debugContext?: unknown } | undefined;
  return typeof logger?.debugContext === 'function' ? (logger.debugContext.bind(logger) as (name: string) => Debugger) : undefined;
});

export const debug: Debugger | undefined = debugContext?.('autoreconnect');

/** Sequelize's own `sequelize:pool` logger, for the line its `getConnection` writes. */
export const poolDebug: Debugger | undefined = debugContext?.('pool');

/**
 * sequelize-pool's `TimeoutError` (the pool's `acquire` timeout), from Sequelize's own copy of
 * the package: resolved from Sequelize, since it need not be hoisted next to us.
 */
export const PoolTimeoutError = load('sequelize/package.json', () => {
  const pool = createRequire(require.resolve('sequelize/package.json'))('sequelize-pool') as Record<string, unknown>;
  return typeof pool['TimeoutError'] === 'function' ? (pool['TimeoutError'] as abstract new (...args: never[]) => Error) : undefined;
});

/**
 * Sequelize's own `getConnection` (its abstract connection manager's), which the patch stands in
 * for: a dialect whose connection manager has another is not one the patch knows.
 */
export const abstractGetConnection = load('sequelize/lib/dialects/abstract/connection-manager', (m) => {
  const proto = (m['ConnectionManager'] as { prototype?: { getConnection?: unknown } } | undefined)?.prototype;
  return typeof proto?.getConnection === 'function' ? proto.getConnection : undefined;
});

/** The installed Sequelize's version, for errors. */
export const sequelizeVersion: string =
  load('sequelize/package.json', (m) => (typeof m['version'] === 'string' ? m['version'] : undefined)) ?? 'unknown';
