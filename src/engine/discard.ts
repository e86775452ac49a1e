import { listening, publish } from './events';
import type { Connection, PoolName } from './port';
import type { Engine } from './state';

/**
 * A connection found dead (or on a read-only server) is never handed out again: marked invalid
 * and destroyed now, so a later release of it is a no-op. Its pool's older idle connections
 * become suspect.
 */
export function discard(engine: Engine, connection: Connection, kind: 'dead' | 'read-only'): void {
  engine.host.invalidate(connection);
  engine.host.destroy(connection);
  markPool(engine, engine.host.poolOf(connection), kind);
}

/** The pool's idle connections older than now become suspect: validated before their next use. */
export function markPool(engine: Engine, pool: PoolName, kind: 'dead' | 'read-only'): void {
  if (!engine.options.hygiene.sweep) return;
  const marks = engine.connections.marks[pool];
  const previous = kind === 'read-only' ? marks.droppedAt : marks.sweptAt;
  if (kind === 'read-only') marks.droppedAt = engine.clock.now();
  else marks.sweptAt = engine.clock.now();
  // Told once per sweep: a mark that moves again before any connection was opened adds no suspect.
  if (previous < engine.connections.reach.openedAt && listening('sweep')) {
    publish(engine, 'sweep', { pool, reason: kind }, engine.host.configOf(pool));
  }
}
