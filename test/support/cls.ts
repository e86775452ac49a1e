import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * A CLS namespace for `Sequelize.useCLS`, on Node's AsyncLocalStorage: the four methods
 * Sequelize v6 calls of a cls-hooked namespace (`run`, `get`, `set`, and `bind`, which
 * `useCLS` checks for). Saves the suite a dependency on cls-hooked for the same behaviour.
 */
export interface ClsNamespace {
  run(fn: (context: Map<string, unknown>) => unknown): void;
  get(key: string): unknown;
  set(key: string, value: unknown): unknown;
  bind<F extends (...args: never[]) => unknown>(fn: F): F;
}

export function clsNamespace(): ClsNamespace {
  const storage = new AsyncLocalStorage<Map<string, unknown>>();
  return {
    run(fn) {
      // Like cls-hooked, a nested run starts from a copy of the outer context.
      const context = new Map(storage.getStore());
      storage.run(context, () => fn(context));
    },
    get: (key) => storage.getStore()?.get(key),
    set(key, value) {
      storage.getStore()?.set(key, value);
      return value;
    },
    bind: (fn) => AsyncLocalStorage.bind(fn),
  };
}
