import { errorCode } from './events';
import type { Engine, Reachability } from './state';

/**
 * Telling "the pool is exhausted" from "the server is unreachable". Sequelize reports both as
 * `ConnectionAcquireTimeoutError` when no connection could be had within the pool's `acquire`
 * time; the plugin keeps the class (so `instanceof` still works) and, when no attempt to reach
 * the server succeeded meanwhile, says so in the message.
 */

/**
 * Sequelize's acquire timeout while no connection was being opened: every connection was busy
 * and none was lost. With one being opened, the timeout is an outage (a server that accepts and
 * never answers): a connect failure like any other.
 */
export function poolBusy(engine: Engine, error: unknown): boolean {
  return engine.connections.opening === 0 && engine.host.isPoolExhausted(error);
}

/** A connection was opened: the server is reachable. */
export function reached(engine: Engine): void {
  const r = engine.connections.reach;
  r.openedAt = engine.clock.now();
  if (r.failures !== 0) clear(r);
}

/** An attempt to open a connection failed; a refused login still reached the server. */
export function unreached(engine: Engine, error: unknown): void {
  const r = engine.connections.reach;
  if (engine.dialect.classifier.classifyConnectError(error) !== 'transient') {
    clear(r);
    return;
  }
  const now = engine.clock.now();
  if (r.failures++ === 0) r.since = now;
  r.lastAt = now;
  r.code = errorCode(error) ?? r.code;
}

function clear(r: Reachability): void {
  r.failures = r.since = r.lastAt = 0;
  r.code = undefined;
}

const explained = new WeakSet();

/**
 * Sequelize's acquire timeout, its message completed when no attempt to reach the server
 * succeeded lately: some failed within twice the wait (and none succeeded since), or one is
 * still unanswered. Plain exhaustion (connections all busy, the server fine) is left exactly as
 * Sequelize made it.
 */
export function explainExhausted<E>(engine: Engine, error: E): E {
  if (!(error instanceof Error) || explained.has(error) || !engine.host.isPoolExhausted(error)) return error;
  const { reach, opening } = engine.connections;
  const now = engine.clock.now();
  const waitMs = engine.host.acquireTimeoutMs();
  const failedLately = reach.failures > 0 && now - reach.lastAt <= 2 * waitMs;
  if (!failedLately && opening === 0) return error;
  explained.add(error);
  const parts: string[] = [];
  if (failedLately) parts.push(`${reach.failures} failed${reach.code ? `: ${reach.code}` : ''}`);
  if (opening > 0) parts.push(`${opening} unanswered`);
  const lastMs = failedLately ? Math.max(now - reach.since, waitMs) : waitMs;
  const header = `${error.name}: ${error.message}`;
  error.message += `: the pool had no free connection, and no attempt to reach the server in the last ${lastMs} ms succeeded (${parts.join('; ')})`;
  if (typeof error.stack === 'string' && error.stack.startsWith(header)) {
    error.stack = `${error.name}: ${error.message}${error.stack.slice(header.length)}`;
  }
  return error;
}
