import type { ResolvedHygiene } from './options';

/** What the plugin notes on each connection. */
export interface ConnectionStamps {
  /** When the connection was opened. */
  createdAt: number;
  /** When it should be retired (max lifetime, jittered; 0 at once); Infinity for never. */
  retireAt: number;
  /**
   * When a statement last got it (its last checkout: HikariCP's "last access"); NaN until its
   * first (idle since `createdAt`). Stamped with the clock read the checkout makes anyway, so
   * that a release reads none. A number from the start, so that V8 keeps the field unboxed.
   */
  usedAt: number;
  /** When it was last known alive: opened, or passed a validation round trip. */
  checkedAt: number;
}

/** Per pool: connections opened (or checked) before these moments are suspect. */
export interface PoolMarks {
  /** A connection of this pool was found dead: check older idle ones before reuse. */
  sweptAt: number;
  /** A connection of this pool was found on a read-only server (failover): retire older ones. */
  droppedAt: number;
}

export type CheckoutAction = 'use' | 'retire' | 'validate';

/**
 * What to do with an idle connection the pool is about to hand out. Pure: `now` and the marks
 * come from the caller.
 */
export function checkoutAction(stamps: ConnectionStamps, marks: PoolMarks, hygiene: ResolvedHygiene, now: number): CheckoutAction {
  if (now >= stamps.retireAt || stamps.createdAt < marks.droppedAt) return 'retire';
  if (hygiene.sweep && stamps.checkedAt < marks.sweptAt) return 'validate';
  if (hygiene.validateIdleMs === false) return 'use';
  // A connection never used yet (a pool's `min`, or one opened for a caller that left) has idled
  // since it was opened: as likely to be dead as a used one. Strictly longer, so that one handed
  // out the moment it opens is not checked even with `validateIdleMs: 0`.
  if (Number.isNaN(stamps.usedAt)) return now - stamps.createdAt > hygiene.validateIdleMs ? 'validate' : 'use';
  return now - stamps.usedAt >= hygiene.validateIdleMs ? 'validate' : 'use';
}

/** A connection's retirement time: `maxLifetimeMs` less up to 10% jitter, so a pool opened at once does not close at once. */
export function retireAt(createdAt: number, maxLifetimeMs: number | false, random: number = Math.random()): number {
  if (maxLifetimeMs === false) return Infinity;
  return createdAt + Math.round(maxLifetimeMs * (1 - 0.1 * random));
}
