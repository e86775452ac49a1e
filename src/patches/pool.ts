import { checkoutAction, retireAt } from '../hygiene';
import { debug } from '../log';
import type { Operation } from '../operation';
import type { ReconnectConfig } from '../hooks';
import { poolOf, type Connection, type PluginState, type PoolName } from '../state';
import { withDeadline } from '../timing';

/** A replica that failed to connect is tried last for this long. */
const RECENT_FAILURE_MS = 5_000;

/**
 * Wraps this instance's `_connect` (the pool's factory) and `releaseConnection`: notes when and
 * with which settings each connection was opened and last returned, retires connections past
 * their lifetime on release, and lets a read pool fall over to another replica when one is down.
 */
export function patchPool(state: PluginState): void {
  const cm = state.connectionManager;
  const connect = cm._connect.bind(cm);
  const release = cm.releaseConnection.bind(cm);
  const replicaFailures = new WeakMap<ReconnectConfig, number>();

  const open = async (config: ReconnectConfig): Promise<Connection> => {
    // Read now: a hook may replace it on the shared config while this attempt is under way.
    const { password } = config;
    try {
      const connection = await connect(config);
      const now = Date.now();
      state.records.set(connection, {
        config,
        createdAt: now,
        checkedAt: now,
        releasedAt: undefined,
        retireAt: retireAt(now, state.options.hygiene.maxLifetimeMs),
      });
      return connection;
    } catch (error) {
      if (typeof error === 'object' && error !== null) state.failedAttempts.set(error, { config, password });
      throw error;
    }
  };

  cm._connect = async function (config: ReconnectConfig): Promise<Connection> {
    const replicas = cm.config.replication ? cm.config.replication.read : [];
    if (replicas.length < 2 || !replicas.includes(config)) return open(config);
    // Recently failed replicas go last, so that one dead replica does not fail every read.
    const now = Date.now();
    const failedRecently = (r: ReconnectConfig) => now - (replicaFailures.get(r) ?? -Infinity) < RECENT_FAILURE_MS;
    const candidates = [config, ...replicas.filter((r) => r !== config)];
    const order = [...candidates.filter((r) => !failedRecently(r)), ...candidates.filter(failedRecently)];
    let firstError: unknown;
    for (const replica of order) {
      try {
        return await open(replica);
      } catch (error) {
        if (state.classifier.classifyConnectError(error) !== 'transient') throw error;
        replicaFailures.set(replica, Date.now());
        firstError ??= error;
        debug(`read replica ${describeHost(replica)} unreachable; trying another`);
      }
    }
    throw firstError;
  };

  const close = cm.close.bind(cm);
  cm.close = function (): Promise<void> {
    state.closed = true;
    state.backoffs.wakeAll();
    return close();
  };

  cm.releaseConnection = function (connection: Connection): void {
    const record = state.records.get(connection);
    if (record) {
      record.releasedAt = Date.now();
      if (record.releasedAt >= record.retireAt) {
        retire(state, connection, 'reached its max lifetime');
        return;
      }
    }
    release(connection);
  };
}

/**
 * Settles to a connection fit for a statement: an idle one past its lifetime is retired, one
 * idle too long (or older than a dead sibling) is validated with a round trip, and either is
 * replaced. The common case costs one WeakMap lookup.
 */
export function checkedOut(
  state: PluginState,
  op: Operation,
  connection: Connection,
  reacquire: () => Promise<Connection>,
): Connection | Promise<Connection> {
  const record = state.records.get(connection);
  if (!record) return connection;
  const action = checkoutAction(record, state.marks[poolOf(connection)], state.options.hygiene, Date.now());
  if (action === 'use') return connection;
  if (action === 'retire') {
    retire(state, connection, 'is retired');
    return replace(state, op, reacquire);
  }
  return validate(state, op, connection, reacquire);
}

async function validate(
  state: PluginState,
  op: Operation,
  connection: Connection,
  reacquire: () => Promise<Connection>,
): Promise<Connection> {
  const { validateTimeoutMs } = state.options.hygiene;
  state.stats.validations++;
  try {
    await withDeadline(
      state.ping(connection),
      validateTimeoutMs,
      () => new Error(`no answer within ${validateTimeoutMs} ms`),
      () => {},
    );
    const record = state.records.get(connection);
    if (record) record.checkedAt = Date.now();
    return connection;
  } catch (error) {
    state.stats.validationFailures++;
    debug(`idle connection failed validation (${state.redact(error instanceof Error ? error.message : String(error))}); replacing it`);
    discard(state, connection, 'dead');
    return replace(state, op, reacquire);
  }
}

/** Gets another connection; bounded, since the pool can only hold so many suspect ones. */
function replace(state: PluginState, op: Operation, reacquire: () => Promise<Connection>): Promise<Connection> {
  op.replacements++;
  if (op.replacements > maxPoolSize(state) + 1) {
    return Promise.reject(new Error('sequelize-autoreconnect: every pooled connection failed validation'));
  }
  return reacquire();
}

export function maxPoolSize(state: PluginState): number {
  const { pool } = state.connectionManager;
  return Math.max(pool.maxSize ?? 0, pool.read?.maxSize ?? 0, pool.write?.maxSize ?? 0);
}

/** Closes this connection when it is next released, instead of pooling it again. */
export function retireOnRelease(state: PluginState, connection: Connection): void {
  const record = state.records.get(connection);
  if (record) record.retireAt = 0;
}

/** A healthy connection we no longer want: closed, not counted as a disconnect. */
function retire(state: PluginState, connection: Connection, why: string): void {
  state.stats.retired++;
  debug(`connection ${why}; closing it`);
  state.connectionManager.destroyConnection(connection).catch(() => {});
}

/**
 * A connection found dead (or on a read-only server) is never handed out again: marked invalid
 * (Sequelize's pool validates idle connections with this flag) and destroyed now, so a later
 * release of it is a no-op. Its pool's older idle connections become suspect.
 */
export function discard(state: PluginState, connection: Connection, kind: 'dead' | 'read-only'): void {
  connection._invalid = true;
  state.connectionManager.destroyConnection(connection).catch(() => {});
  markPool(state, poolOf(connection), kind);
}

export function markPool(state: PluginState, pool: PoolName, kind: 'dead' | 'read-only'): void {
  if (!state.options.hygiene.sweep) return;
  const marks = state.marks[pool];
  if (kind === 'read-only') marks.droppedAt = Date.now();
  else marks.sweptAt = Date.now();
}

function describeHost(config: ReconnectConfig): string {
  return `${config.host ?? 'localhost'}:${config.port ?? ''}`;
}
