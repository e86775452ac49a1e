import type { Model, ModelStatic } from 'sequelize';
import { decoratedHooks, type ReconnectHookName } from '../core/decorations';
import type { AfterReconnectContext, ReconnectContext } from '../hooks';
import type { Engine } from './state';

/** Are there hooks of this name for this model (decorated or added), the instance or the class? */
export function hasReconnectHook(engine: Engine, model: ModelStatic<Model> | undefined, name: ReconnectHookName): boolean {
  return (!!model && decoratedHooks(model, name).length > 0) || engine.host.hasHook(model, name);
}

/**
 * The one hook runner: the model's decorated methods, then its added hooks, then the
 * instance's (as Sequelize orders model and instance hooks), then those added to the Sequelize
 * class (most specific first), each awaited. A hook that throws
 * ends the operation: `giveUpWith` makes the error thrown instead.
 */
export async function runHook(
  engine: Engine,
  name: ReconnectHookName,
  context: ReconnectContext | AfterReconnectContext,
  giveUpWith: (hookError: unknown) => Error,
): Promise<void> {
  const { model } = context;
  try {
    if (model) {
      for (const hook of decoratedHooks(model, name)) await hook.call(model, context);
    }
    if (engine.host.hasHook(model, name)) await engine.host.runHooks(model, name, context);
  } catch (hookError) {
    throw giveUpWith(hookError);
  }
}
