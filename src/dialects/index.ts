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

/**
 * Why `option`, which needs the server to tell how a transaction ended (`outcomes`), cannot work
 * on `dialect`, naming the dialects where it can; undefined where it can.
 */
export function settlingUnsupported(dialect: Dialect, option: string): string | undefined {
  if (dialect.outcomes) return undefined;
  const able = Object.values(dialects).filter((d) => d.outcomes !== undefined);
  return `${option} is supported on ${able.map((d) => d.name).join(', ')} only, not on ${dialect.name}`;
}
