import { postgres } from './classify/postgres';
import type { DialectClassifier } from './classify/types';

/** What the plugin needs of a dialect: pure classification, and a cheap round trip. */
export interface Dialect {
  readonly classifier: DialectClassifier;
  /** Resolves when the connection answered a trivial statement. A function, not a method: it is passed around unbound. */
  readonly ping: (connection: unknown) => Promise<void>;
  /** Per-instance hardening of the driver, when it needs any. */
  readonly guardDriver?: (connectionManager: object) => void;
}

interface EventedClient {
  on(event: 'error', listener: (error: Error) => void): unknown;
  end(): Promise<void>;
  _invalid?: boolean;
}
type ClientClass = new (config: unknown) => EventedClient;

/**
 * Sequelize attaches its `error` listener to a new pg client only once connecting has
 * resolved, a few microtasks later. A FATAL that arrives with the last startup message (a
 * server shutting down just then) finds no listener, and Node turns that unhandled `error`
 * event into a crash of the whole process. This instance's clients get a listener from birth,
 * for their whole life (connecting, idle, in use, being destroyed, after close); a client that
 * errs is marked invalid, so the pool never hands it out.
 */
function guardPgClient(connectionManager: object): void {
  const cm = connectionManager as { lib?: { Client?: ClientClass } };
  const Base = cm.lib?.Client;
  if (!cm.lib || !Base) return;
  class GuardedClient extends Base {
    constructor(config: unknown) {
      super(config);
      this.on('error', () => {
        this._invalid = true;
        // An errored client never works again. Close it even if Sequelize lost track of it
        // (it does when its post-connect statements fail): no socket outlives the session.
        this.end().catch(() => {});
      });
    }
  }
  cm.lib = Object.create(cm.lib, { Client: { value: GuardedClient } }) as { Client: ClientClass };
}

interface QueryableClient {
  query(sql: string): Promise<unknown>;
}

const dialects: Readonly<Record<string, Dialect>> = {
  postgres: {
    classifier: postgres,
    ping: async (connection) => {
      await (connection as QueryableClient).query('SELECT 1');
    },
    guardDriver: guardPgClient,
  },
};

/** The support for a Sequelize dialect name, or a clear error for one not supported yet. */
export function dialectFor(name: string): Dialect {
  const dialect = Object.prototype.hasOwnProperty.call(dialects, name) ? dialects[name] : undefined;
  if (!dialect) {
    throw new Error(`sequelize-autoreconnect does not support the '${name}' dialect yet (supported: ${Object.keys(dialects).join(', ')})`);
  }
  return dialect;
}
