import { Sequelize } from 'sequelize';
import { registerHookNames } from './host/internals';
import type { SequelizePlugin } from './plugin';

declare module 'sequelize/types/sequelize' {
  interface Sequelize {
    /** Installs a plugin on this instance; returns the instance. Added by sequelize-autoreconnect. */
    use(plugin: SequelizePlugin): this;
  }
}

/**
 * The one-time shared changes, made on import: our hook names in Sequelize's table, and
 * `Sequelize.prototype.use` where Sequelize has none.
 */
function registerGlobals(): void {
  registerHookNames();
  const proto = Sequelize.prototype as unknown as Record<string, unknown>;
  if (typeof proto['use'] === 'function') return;
  Object.defineProperty(proto, 'use', {
    configurable: true,
    writable: true,
    value: function use(this: Sequelize, plugin: SequelizePlugin): Sequelize {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- checked for JavaScript callers
      if (typeof plugin !== 'object' || plugin === null || typeof plugin.install !== 'function') {
        throw new TypeError('sequelize.use() expects a plugin, such as autoreconnect()');
      }
      plugin.install(this);
      return this;
    },
  });
}

registerGlobals();
