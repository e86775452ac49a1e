import { abortAttempts, opened, released } from '../engine/checkout';
import { reached, unreached } from '../engine/exhausted';
import type { Connection } from '../engine/port';
import type { Engine } from '../engine/state';
import type { ReconnectConfig } from '../hooks';
import type { ConnectionManagerInternals } from './probe';

/** A replica that failed to connect is tried last for this long. */
const RECENT_FAILURE_MS = 5_000;

/**
 * How long a connection may take to close gracefully (the driver says goodbye, then waits for the
 * server to close its end) before its socket is destroyed: one that died without a word would
 * keep `sequelize.close()` waiting for good. At `close()`, which Sequelize's pool ends one
 * connection after another, the idle connections share it.
 */
export const DISCONNECT_GRACE_MS = 1_000;

/**
 * Wraps this instance's `_connect` (the pool's factory), `disconnect`, `releaseConnection` and
 * `close`: notes when and with which settings each connection was opened and last returned,
 * retires connections past their lifetime on release, lets a read pool fall over to another
 * replica when one is down, bounds every graceful close, and stops every retry once the
 * instance is closed.
 */
export function patchPool(engine: Engine, cm: ConnectionManagerInternals): void {
  const connect = cm._connect.bind(cm);
  const release = cm.releaseConnection.bind(cm);
  const close = cm.close.bind(cm);
  const replicaFailures = new WeakMap<ReconnectConfig, number>();
  boundDisconnect(engine, cm);

  const open = async (config: ReconnectConfig): Promise<Connection> => {
    // Read now: a hook may replace it on the shared config while this attempt is under way.
    const { password } = config;
    const { connections } = engine;
    connections.opening++;
    const gate = connections.gates.of(config);
    const waited = gate.enter();
    try {
      if (waited) await waited;
      const connection = await connect(config);
      opened(engine, connection, config);
      reached(engine);
      return connection;
    } catch (error) {
      unreached(engine, error);
      if (typeof error === 'object' && error !== null) engine.connections.failedAttempts.set(error, { config, password });
      throw error;
    } finally {
      connections.opening--;
      gate.leave();
    }
  };

  cm._connect = async function (config: ReconnectConfig): Promise<Connection> {
    const replicas = cm.config.replication ? cm.config.replication.read : [];
    if (replicas.length < 2 || !replicas.includes(config)) return open(config);
    // Recently failed replicas go last, so that one dead replica does not fail every read.
    const now = engine.clock.now();
    const failedRecently = (r: ReconnectConfig) => now - (replicaFailures.get(r) ?? -Infinity) < RECENT_FAILURE_MS;
    const candidates = [config, ...replicas.filter((r) => r !== config)];
    const order = [...candidates.filter((r) => !failedRecently(r)), ...candidates.filter(failedRecently)];
    let firstError: unknown;
    for (const replica of order) {
      try {
        return await open(replica);
      } catch (error) {
        if (engine.dialect.classifier.classifyConnectError(error) !== 'transient') throw error;
        replicaFailures.set(replica, engine.clock.now());
        firstError ??= error;
        engine.host.debug(`read replica ${replica.host ?? 'localhost'}:${replica.port ?? ''} unreachable; trying another`);
      }
    }
    throw firstError;
  };

  cm.close = function (): Promise<void> {
    engine.closed = true;
    engine.backoffs.wakeAll();
    engine.connections.gates.openAll();
    // Sequelize's pool waits at close() for every connection it is still opening: a login that
    // has not settled within DISCONNECT_GRACE_MS (a server that went silent) is abandoned then,
    // as an idle connection's close is, rather than holding close() up to the connect timeout.
    const cancel = engine.clock.setTimer(() => abortAttempts(engine, 0), DISCONNECT_GRACE_MS, true);
    return close().finally(cancel);
  };

  cm.releaseConnection = function (connection: Connection): void {
    if (released(engine, connection)) release(connection);
  };
}

/**
 * The pool's destroy (an idle connection at `close()`, one found dead or retired) ends in the
 * dialect's `disconnect`: bounded by `DISCONNECT_GRACE_MS`, shared at `close()`.
 */
function boundDisconnect(engine: Engine, cm: ConnectionManagerInternals): void {
  const disconnect = cm.disconnect.bind(cm);
  let closingUntil = 0;
  const graceMs = (): number => {
    if (!engine.closed) return DISCONNECT_GRACE_MS;
    const now = engine.clock.now();
    if (closingUntil === 0) closingUntil = now + DISCONNECT_GRACE_MS;
    return Math.max(0, closingUntil - now);
  };
  // Destroys the socket of an established connection, whatever the driver is doing on it.
  const cut = engine.dialect.silence?.cut;
  cm.disconnect = function (connection: Connection): Promise<void> {
    const ending = disconnect(connection);
    if (!cut) return ending;
    const ms = graceMs();
    return new Promise<void>((resolve, reject) => {
      const cancel = engine.clock.setTimer(() => {
        engine.host.debug(`a connection did not close within ${ms} ms; its socket is destroyed`);
        try {
          cut(connection, Object.assign(new Error(`no answer to its close within ${ms} ms`), { code: 'ECONNRESET' }));
        } catch {
          // Gone already: nothing left to close.
        }
        resolve();
      }, ms);
      ending.then(
        () => {
          cancel();
          resolve();
        },
        (error: unknown) => {
          cancel();
          reject(error);
        },
      );
    });
  };
}
