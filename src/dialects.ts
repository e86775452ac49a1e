import { postgres } from './classify/postgres';
import type { DialectClassifier } from './classify/types';

/** What the plugin needs of a dialect: pure classification, and a cheap round trip. */
export interface Dialect {
  readonly classifier: DialectClassifier;
  /** Resolves when the connection answered a trivial statement. A function, not a method: it is passed around unbound. */
  readonly ping: (connection: unknown) => Promise<void>;
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
