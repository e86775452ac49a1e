import type { Sequelize } from 'sequelize';
import type { ResolvedPluginOptions } from './core/option-types';
import { resolveOptions, type AutoReconnectOptions } from './core/options';
import { modelPolicy } from './core/policy';
import { redactor } from './core/redact';
import { dialectFor, settlingUnsupported } from './dialects';
import { createFacade } from './engine/facade';
import type { AcquireOptions, Connection, QueryLike } from './engine/port';
import { createEngine, type Engine } from './engine/state';
import type { ReconnectStats } from './engine/stats';
import { systemClock } from './engine/timing';
import { SCOUT_INTERVAL_MS } from './core/backoff';
import { patchDriver } from './host/patch-driver';
import { patchPool } from './host/patch-pool';
import { patchGetConnection } from './host/patch-acquire';
import { patchQuery, patchQueryInterface } from './host/patch-query';
import { sequelizeHost } from './host/sequelize-host';
import { patchTransaction } from './host/patch-transaction';
import { configuredPasswords, probe, sequelizeConfig } from './host/probe';

/** What `sequelize.use()` takes. */
export interface SequelizePlugin {
  readonly name: string;
  install(sequelize: Sequelize): void;
}

const installed = new WeakMap<Sequelize, Engine>();

/**
 * The plugin: `sequelize.use(autoreconnect(options))`. Options are validated here, so a typo
 * fails at start-up with a `TypeError` naming the option; Sequelize's internals at `use()`.
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
      const unsupported = dialect.unsupported?.(sequelizeConfig(sequelize));
      if (unsupported) throw new TypeError(`sequelize-autoreconnect: ${unsupported}`);
      const settling = settlingOption(resolved);
      const unsupportedOption = settling && settlingUnsupported(dialect, `option \`${settling}\``);
      if (unsupportedOption) throw new TypeError(`sequelize-autoreconnect: ${unsupportedOption}`);
      const internals = probe(sequelize);
      const cm = internals.connectionManager;
      const acquireOnce: (options: AcquireOptions) => Promise<Connection> = cm.getConnection.bind(cm);
      // Filled in once the Query patch is in place; only a retry calls it.
      let runOnce: (query: QueryLike, sql: string, parameters: unknown) => Promise<unknown> = () => Promise.reject(new Error('not ready'));
      const engine = createEngine({
        host: sequelizeHost(
          internals,
          dialect,
          acquireOnce,
          (query, sql, parameters) => runOnce(query, sql, parameters),
          () => facade.tap,
        ),
        clock: systemClock,
        dialect,
        options: resolved,
        redact: redactor(() => configuredPasswords(cm)),
        scoutMs: SCOUT_INTERVAL_MS,
        instance: sequelize,
      });
      // Models defined before `use()` are checked now (before any patch); later ones at their first query.
      for (const model of Object.values(sequelize.models)) modelPolicy(engine.policies, model);
      const facade = createFacade(engine);
      patchDriver(engine, cm, dialect, facade.tap);
      patchPool(engine, cm);
      patchGetConnection(internals, facade);
      runOnce = patchQuery(internals, facade);
      patchQueryInterface(internals);
      patchTransaction(sequelize, facade);
      installed.set(sequelize, engine);
    },
  };
}

/** The option that needs the dialect to settle a transaction's outcome, if one is set. */
function settlingOption(options: ResolvedPluginOptions): string | undefined {
  if (options.retryWrites === 'verified') return "retryWrites: 'verified'";
  if (options.replayTransactions) return 'replayTransactions';
  return options.replayConflicts ? 'replayConflicts' : undefined;
}

/**
 * A snapshot of this instance's counters.
 * @throws Error when the plugin is not installed on `sequelize` (`use(autoreconnect())` was not called on it).
 */
export function getReconnectStats(sequelize: Sequelize): ReconnectStats {
  const engine = installed.get(sequelize);
  if (!engine) throw new Error('sequelize-autoreconnect is not installed on this Sequelize instance');
  return engine.stats.snapshot();
}
