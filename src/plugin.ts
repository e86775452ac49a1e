import type { Sequelize } from 'sequelize';
import { dialectFor } from './dialects';
import { resolveOptions, type AutoReconnectOptions } from './options';
import { patchConnectionManager } from './patches/connection-manager';
import { patchPool } from './patches/pool';
import { patchQuery } from './patches/query';
import { patchQueryInterface } from './patches/query-interface';
import { modelOptionsOf } from './policy';
import { redactor } from './redact';
import type { ConnectionManagerLike, PluginState } from './state';
import { emptyStats, type ReconnectStats } from './stats';
import { Backoffs } from './timing';

/** What `sequelize.use()` takes. */
export interface SequelizePlugin {
  readonly name: string;
  install(sequelize: Sequelize): void;
}

const installed = new WeakMap<Sequelize, PluginState>();

/**
 * The plugin: `sequelize.use(autoreconnect(options))`. Options are validated here, so a typo
 * fails at start-up with a `TypeError` naming the option.
 */
export function autoreconnect(options?: AutoReconnectOptions): SequelizePlugin {
  const resolved = resolveOptions(options);
  return {
    name: 'sequelize-autoreconnect',
    install(sequelize: Sequelize): void {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- checked for JavaScript callers
      if (typeof sequelize !== 'object' || sequelize === null || !('connectionManager' in sequelize)) {
        throw new TypeError('sequelize-autoreconnect: install() needs a Sequelize instance');
      }
      if (installed.has(sequelize)) {
        throw new Error('sequelize-autoreconnect is already installed on this Sequelize instance');
      }
      const dialect = dialectFor(sequelize.getDialect());
      const connectionManager = (sequelize as unknown as { connectionManager: ConnectionManagerLike }).connectionManager;
      const acquireOnce = connectionManager.getConnection.bind(connectionManager);
      const state: PluginState = {
        sequelize,
        options: resolved,
        modelPolicies: new WeakMap(),
        classifier: dialect.classifier,
        ping: dialect.ping,
        records: new WeakMap(),
        failedAttempts: new WeakMap(),
        marks: { read: { sweptAt: 0, droppedAt: 0 }, write: { sweptAt: 0, droppedAt: 0 } },
        stats: emptyStats(),
        connectionManager,
        acquireOnce,
        redact: redactor(() => passwords(connectionManager)),
        backoffs: new Backoffs(),
        closed: false,
      };
      validateModelOptions(sequelize);
      dialect.guardDriver?.(connectionManager);
      patchPool(state);
      patchConnectionManager(state);
      patchQuery(state);
      patchQueryInterface(state);
      installed.set(sequelize, state);
    },
  };
}

/** A snapshot of this instance's counters. */
export function getReconnectStats(sequelize: Sequelize): ReconnectStats {
  const state = installed.get(sequelize);
  if (!state) throw new Error('sequelize-autoreconnect is not installed on this Sequelize instance');
  return { ...state.stats };
}

/** Models defined before `use()` are checked now; later ones at their first query. */
function validateModelOptions(sequelize: Sequelize): void {
  for (const model of Object.values(sequelize.models)) modelOptionsOf(model);
}

function* passwords(cm: ConnectionManagerLike): Iterable<string> {
  const configs = cm.config.replication ? [cm.config, cm.config.replication.write, ...cm.config.replication.read] : [cm.config];
  for (const config of configs) {
    if (typeof config.password === 'string') yield config.password;
  }
}
