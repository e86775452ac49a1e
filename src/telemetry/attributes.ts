import type { ReconnectEventBase } from '../engine/events';

/** Attribute values as OpenTelemetry takes them. */
export type Attributes = Record<string, string | number | boolean>;

/** OpenTelemetry's `db.system.name` for each dialect (the semantic conventions spell PostgreSQL in full). */
const SYSTEM: Record<ReconnectEventBase['dialect'], string> = { postgres: 'postgresql', mysql: 'mysql', mariadb: 'mariadb' };

/** Where this package's own attributes live: OpenTelemetry reserves unprefixed names for its conventions. */
export const PREFIX = 'sequelize_autoreconnect.';

/**
 * The attributes every instrument carries, under the database client semantic conventions:
 * `db.system.name`, `server.address`, `server.port`. The events' `host` is `host:port` as
 * configured (an IPv6 address may be bracketed), or a host alone.
 */
export function baseAttributes(event: Pick<ReconnectEventBase, 'dialect' | 'host'>): Attributes {
  const out: Attributes = { 'db.system.name': SYSTEM[event.dialect] };
  const match = /^(.*):(\d+)$/.exec(event.host);
  // A bare IPv6 address ("::1") also ends in ":digits"; it then has more colons and no brackets.
  if (match && (match[1]!.startsWith('[') || !match[1]!.includes(':'))) {
    out['server.address'] = match[1]!.replace(/^\[(.*)\]$/, '$1');
    out['server.port'] = Number(match[2]);
  } else {
    out['server.address'] = event.host;
  }
  return out;
}

/** A tri-state (committed or not, or nobody could tell) as a low-cardinality attribute value. */
export const triState = (value: boolean | undefined): string => (value === undefined ? 'unknown' : String(value));
