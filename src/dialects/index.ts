import { mariadb, mysql } from './mysql';
import { postgres } from './postgres';
import type { Dialect } from './types';

export type { Dialect, DriverTap } from './types';

const dialects: Readonly<Record<string, Dialect>> = { postgres, mysql, mariadb };

/** The support for a Sequelize dialect name, or a clear error for one not supported yet. */
export function dialectFor(name: string): Dialect {
  const dialect = Object.prototype.hasOwnProperty.call(dialects, name) ? dialects[name] : undefined;
  if (!dialect) {
    throw new Error(`sequelize-autoreconnect does not support the '${name}' dialect yet (supported: ${Object.keys(dialects).join(', ')})`);
  }
  return dialect;
}
