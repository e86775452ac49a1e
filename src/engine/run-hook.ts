import type { Model, ModelStatic } from 'sequelize';
import { decoratedHooks, type ReconnectHookName } from '../core/decorations';
import type { AfterReconnectContext, ReconnectContext } from '../hooks';
import type { Engine } from './state';
import { withDeadline } from './timing';

/** A hook that had not settled when its operation's deadline passed: the recovery ends without it. */
export class HookTimeoutError extends Error {
  constructor(name: ReconnectHookName, ms: number) {
    super(`the ${name} hook did not settle within the ${ms} ms left of its operation's deadline`);
    this.name = 'HookTimeoutError';
  }
}

/** Are there hooks of this name for this model (decorated or added), the instance or the class? */
export function hasReconnectHook(engine: Engine, model: ModelStatic<Model> | undefined, name: ReconnectHookName): boolean {
  return (!!model && decoratedHooks(model, name).length > 0) || engine.host.hasHook(model, name);
}

/**
 * The one hook runner: the model's decorated methods, then its added hooks, then the
 * instance's (as Sequelize orders model and instance hooks), then those added to the Sequelize
 * class (most specific first), each awaited. A hook that throws, or has not settled within
 * `withinMs` (what is left of its operation's deadline: a secret store that hangs must not hang
 * the caller), ends the operation: `giveUpWith` makes the error thrown instead. A hook left
 * running then finishes on its own; nothing waits for it.
 */
export async function runHook(
  engine: Engine,
  name: ReconnectHookName,
  context: ReconnectContext | AfterReconnectContext,
  giveUpWith: (hookError: unknown) => Error,
  withinMs: number,
): Promise<void> {
  const { model } = context;
  const decorated = model ? decoratedHooks(model, name) : [];
  const added = engine.host.hasHook(model, name);
  if (decorated.length === 0 && !added) return;
  const run = async (): Promise<void> => {
    for (const hook of decorated) await hook.call(model, context);
    if (added) await engine.host.runHooks(model, name, context);
  };
  const ms = Math.max(1, Math.ceil(withinMs));
  try {
    await withDeadline(
      engine.clock,
      run(),
      ms,
      () => new HookTimeoutError(name, ms),
      () => {},
    );
  } catch (hookError) {
    throw giveUpWith(hookError);
  }
}
