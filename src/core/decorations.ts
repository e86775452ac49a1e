import type { AfterReconnectContext, ReconnectContext } from '../hooks';
import type { RetryOptions } from './option-types';

/**
 * What the model decorators store on a model class, and how the plugin reads it back. The keys
 * are global symbols, so that the CommonJS and ES module builds of the package read each
 * other's decorations.
 */

/** Per-model policy: options laid over the plugin's, or `false` for no retries at all. */
export type ModelReconnectOptions = RetryOptions | false;

export type ReconnectHookName = 'beforeReconnect' | 'afterReconnect';
export type HookFunction = (context: ReconnectContext | AfterReconnectContext) => unknown;

const kModelOptions = Symbol.for('sequelize-autoreconnect.model-options');
const kModelHooks = Symbol.for('sequelize-autoreconnect.model-hooks');

type DecoratedHooks = Partial<Record<ReconnectHookName, HookFunction[]>>;

interface Decorated {
  [kModelOptions]?: ModelReconnectOptions;
  [kModelHooks]?: DecoratedHooks;
}

/** The policy `@AutoReconnect` gave this model class (or a class it extends). */
export function decoratedOptions(model: object): ModelReconnectOptions | undefined {
  return (model as Decorated)[kModelOptions];
}

/** The methods `@BeforeReconnect` / `@AfterReconnect` registered on this model class. */
export function decoratedHooks(model: object, name: ReconnectHookName): readonly HookFunction[] {
  return (model as Decorated)[kModelHooks]?.[name] ?? [];
}

export function decorateOptions(model: object, options: ModelReconnectOptions): void {
  Object.defineProperty(model, kModelOptions, { value: options, configurable: true, enumerable: false, writable: true });
}

export function decorateHook(model: object, name: ReconnectHookName, fn: HookFunction): void {
  const own = Object.prototype.hasOwnProperty.call(model, kModelHooks) ? (model as Decorated)[kModelHooks]! : undefined;
  // Copy what a parent class registered so that the subclass adds to it without changing it.
  const hooks: DecoratedHooks = own ?? { ...(model as Decorated)[kModelHooks] };
  hooks[name] = [...(hooks[name] ?? []), fn];
  if (!own) Object.defineProperty(model, kModelHooks, { value: hooks, configurable: true, enumerable: false, writable: true });
}
