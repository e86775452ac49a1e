import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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

/** The folder `require('sequelize')` from `path` loads, through symlinks; undefined if none. */
function sequelizeFrom(path: string): string | undefined {
  try {
    return dirname(realpathSync(createRequire(path).resolve('sequelize/package.json')));
  } catch {
    return undefined;
  }
}

/**
 * `npm install <folder>` links the folder, so `require('sequelize')` from here finds the copy in
 * its own node_modules (a devDependency), not the app's: `use` would land on a Sequelize the app
 * never constructs. Registering it on the app's copy too would not do, since errors, hook names
 * and the connection manager are compared with this copy; so refuse at once, saying what to do.
 * Only when this package loads a Sequelize of its own and the app's entry finds another one.
 */
function refuseAnotherSequelize(): void {
  const folder = join(__dirname, '..');
  const own = sequelizeFrom(__filename);
  if (own === undefined || !existsSync(join(folder, 'node_modules', 'sequelize'))) return;
  if (own !== realpathSync(join(folder, 'node_modules', 'sequelize'))) return;
  const app = sequelizeFrom(require.main?.filename ?? process.argv[1] ?? join(process.cwd(), 'index.js'));
  if (app === undefined || app === own) return;
  const path = realpathSync(folder);
  throw new Error(
    `sequelize-autoreconnect in ${path} loads its own Sequelize (${own}), not your app's (${app}), ` +
      `as when \`npm install <folder>\` links it: install it with \`npm install --install-links ${path}\``,
  );
}

refuseAnotherSequelize();
registerGlobals();
