/**
 * Every contact with Sequelize's internals, in one place: what the plugin requires of them
 * (loaded lazily, so that a missing one fails `use()` with a clear error rather than the import).
 * Public API (hooks, query types, errors) is used directly elsewhere.
 */

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

/** Sequelize's `debug` logger, under `sequelize:autoreconnect`, so this adds no dependency. */
const debugContext = load('sequelize/lib/utils/logger', (m) => {
  const logger = m['logger'] as { debugContext?: unknown } | undefined;
  return typeof logger?.debugContext === 'function' ? (logger.debugContext.bind(logger) as (name: string) => Debugger) : undefined;
});

export const debug: Debugger | undefined = debugContext?.('autoreconnect');

/** The installed Sequelize's version, for errors. */
export const sequelizeVersion: string =
  load('sequelize/package.json', (m) => (typeof m['version'] === 'string' ? m['version'] : undefined)) ?? 'unknown';
