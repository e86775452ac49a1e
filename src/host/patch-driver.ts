import type { Dialect, DriverTap } from '../dialects';
import type { ConnectionManagerInternals } from './probe';

/**
 * Hardens this instance's driver connections from birth without touching the driver module,
 * which the application and other instances share, and without changing what
 * `connectionManager.lib` is (the `dialectModule` the application passed stays itself):
 * Sequelize's `connect()` creates its driver connection with `this.lib` before its first
 * `await`, so the dialect's guarded view of the module stands in for that synchronous part
 * only. A connection that `connect()` made and then failed to set up (its post-connect
 * statements failed) is destroyed: Sequelize loses track of it, and its socket would stay open.
 */
export function patchDriver(cm: ConnectionManagerInternals, dialect: Dialect, tap: DriverTap | undefined): void {
  const { guardDriver, destroyDriverConnection } = dialect;
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
    if (!connection || !destroyDriverConnection) return pending as ReturnType<typeof connect>;
    return pending.catch((error: unknown) => {
      try {
        destroyDriverConnection(connection);
      } catch {
        // Closing what Sequelize lost: nothing to report, and the caller gets connect's own error.
      }
      throw error;
    }) as ReturnType<typeof connect>;
  };
}
