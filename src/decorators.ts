import { decorateHook, decorateOptions, type HookFunction, type ModelReconnectOptions, type ReconnectHookName } from './core/decorations';
import { validateOptions } from './core/options';

export { decoratedHooks, decoratedOptions, type ModelReconnectOptions } from './core/decorations';

/**
 * Model-level decorators. They work with TypeScript's `experimentalDecorators` and with standard
 * (TC39) decorators, on sequelize-typescript models and on plain `Model.init` models, in any
 * order relative to `@Table`: they only store what they are given on the class; the plugin
 * reads it when a query of that model loses its connection.
 */

/**
 * Class decorator: this model's queries use these options over the plugin's; `false` turns
 * retries off for the model. `@AutoReconnect({ retryWrites: 'never' })`, `@AutoReconnect(false)`.
 *
 * Options are validated here; whether they suit the instance (`retryWrites: 'verified'` is
 * refused on MySQL/MariaDB) is checked at `use()`, or at the model's first query. It does
 * nothing on an instance without the plugin (`sequelize.use(autoreconnect())`), and cannot
 * tell: it runs when the class is defined, before any instance exists, and such an instance
 * runs none of the plugin's code.
 */
export function AutoReconnect(
  options: ModelReconnectOptions,
): <T extends abstract new (...args: never[]) => unknown>(target: T, context?: ClassDecoratorContext<T>) => void {
  const validated = options === false ? false : validateOptions(options, '@AutoReconnect option');
  return (target) => {
    decorateOptions(target, validated);
  };
}

function hookDecorator(name: ReconnectHookName) {
  function decorator(target: object, propertyKey: string | symbol, descriptor?: PropertyDescriptor): void;
  function decorator(value: (context: never) => unknown, context: ClassMethodDecoratorContext): void;
  function decorator(target: unknown, keyOrContext: unknown, descriptor?: PropertyDescriptor): void {
    const decoratorName = name === 'beforeReconnect' ? '@BeforeReconnect' : '@AfterReconnect';
    if (typeof keyOrContext === 'object' && keyOrContext !== null) {
      // Standard decorators: (method, context); the class is `this` in a static initializer.
      const context = keyOrContext as DecoratorContext;
      if (context.kind !== 'method' || !context.static) throw new TypeError(`${decoratorName} decorates a static method of a model class`);
      context.addInitializer(function (this: unknown) {
        decorateHook(this as object, name, target as HookFunction);
      });
      return;
    }
    // experimentalDecorators: (class, key, descriptor) for a static method.
    if (typeof target !== 'function') throw new TypeError(`${decoratorName} decorates a static method of a model class`);
    const method: unknown = descriptor?.value ?? (target as unknown as Record<string | symbol, unknown>)[keyOrContext as string | symbol];
    if (typeof method !== 'function') throw new TypeError(`${decoratorName} decorates a static method of a model class`);
    decorateHook(target, name, method as HookFunction);
  }
  return decorator;
}

/** Static-method decorator: runs the method as this model's `beforeReconnect` hook. */
export const BeforeReconnect = hookDecorator('beforeReconnect');
/** Static-method decorator: runs the method as this model's `afterReconnect` hook. */
export const AfterReconnect = hookDecorator('afterReconnect');
