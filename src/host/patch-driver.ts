import type { Dialect, DriverTap } from '../dialects';
import type { ConnectAttempt, Engine } from '../engine/state';
import { ConnectTimeoutError } from '../engine/timing';
import type { ConnectionManagerInternals } from './probe';

/**
 * Hardens this instance's driver connections from birth without touching the driver module,
 * which the application and other instances share, and without changing what
 * `connectionManager.lib` is (the `dialectModule` the application passed stays itself):
 * Sequelize's `connect()` creates its driver connection with `this.lib` before its first
 * `await`, so the dialect's guarded view of the module stands in for that synchronous part
 * only. A connection that `connect()` made and then failed to set up (its post-connect
 * statements failed) is destroyed: Sequelize loses track of it, and its socket would stay open.
 * Every attempt is bounded (see `bounded`).
 */
export function patchDriver(engine: Engine, cm: ConnectionManagerInternals, dialect: Dialect, tap: DriverTap | undefined): void {
  const { guardDriver, destroyDriverConnection, abortDriverConnection } = dialect;
  if (!guardDriver) return;
  const views = new WeakMap<object, object>();
  const connect = cm.connect.bind(cm);
  let created: object | undefined;
  const onCreated = (connection: object): void => {
    created = connection;
  };
  cm.connect = (config) => {
    const lib = cm.lib;
    let view = views.get(lib);
    if (!view) views.set(lib, (view = guardDriver(lib, tap, onCreated)));
    created = undefined;
    cm.lib = view;
    let pending: Promise<unknown>;
    try {
      pending = connect(config);
    } finally {
      cm.lib = lib;
    }
    // Set by the guarded view during connect()'s synchronous part.
    const connection = created as object | undefined;
    created = undefined;
    if (connection && destroyDriverConnection) {
      pending = pending.catch((error: unknown) => {
        try {
          destroyDriverConnection(connection);
        } catch {
          // Closing what Sequelize lost: nothing to report, and the caller gets connect's own error.
        }
        throw error;
      });
    }
    const { connectTimeoutMs } = engine.options.hygiene;
    if (connectTimeoutMs === false) return pending as ReturnType<typeof connect>;
    // An operation's first attempt counts from its own start: bounded by the deadline too, so
    // that no operation outlives `deadlineMs` because of it. Retries are cut at theirs (checkout.ts).
    const ms = Math.min(connectTimeoutMs, engine.options.deadlineMs);
    // Without a handle (a mariadb Unix socket or `stream` of the application's) the attempt is
    // still bounded, but its socket is left to the connector.
    const destroy = connection && abortDriverConnection ? () => abortDriverConnection(connection) : () => {};
    return bounded(engine, pending, destroy, ms) as ReturnType<typeof connect>;
  };
}

/**
 * Settles with `pending`, or after `ms` (or when the engine aborts it, see `ConnectAttempt`)
 * destroys the driver connection being created and rejects with a `ConnectTimeoutError`. A
 * connection that arrives after that is destroyed too: it never reaches the pool.
 */
function bounded<T>(engine: Engine, pending: Promise<T>, destroy: () => void, ms: number): Promise<T> {
  const { clock, connections } = engine;
  const startedAt = clock.now();
  const destroyQuietly = (): void => {
    try {
      destroy();
    } catch {
      // A timer's or a late promise reaction's work: there is no caller to tell.
    }
  };
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      cancel();
      connections.attempts.delete(attempt);
      return true;
    };
    const attempt: ConnectAttempt = {
      startedAt,
      abort: () => {
        if (!settle()) return;
        destroyQuietly();
        const elapsed = clock.now() - startedAt;
        engine.host.debug(`a connection attempt got no answer within ${elapsed} ms; abandoned, its socket destroyed`);
        reject(new ConnectTimeoutError(elapsed, startedAt));
      },
    };
    const cancel = clock.setTimer(() => attempt.abort(), ms);
    connections.attempts.add(attempt);
    pending.then(
      (value) => (settle() ? resolve(value) : destroyQuietly()),
      (error: unknown) => {
        if (settle()) reject(error);
      },
    );
  });
}
