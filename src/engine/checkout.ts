import { checkoutAction, retireAt } from '../core/hygiene';
import type { ReconnectConfig } from '../hooks';
import { policyFor } from '../core/policy';
import { listening, publish } from './events';
import { operationFor, remainingMs, type Operation } from './operation';
import type { AcquireOptions, Connection } from './port';
import { discard } from './discard';
import { type ConnectionRecord, type Engine } from './state';
import { DeadlineError, withDeadline } from './timing';

/** A connection was opened with these settings: note it. */
export function opened(engine: Engine, connection: Connection, config: ReconnectConfig): void {
  const now = engine.clock.now();
  const record: ConnectionRecord = {
    config,
    createdAt: now,
    checkedAt: now,
    usedAt: NaN,
    retireAt: retireAt(now, engine.options.hygiene.maxLifetimeMs, engine.clock.random()),
    checkedOutWith: undefined,
  };
  engine.connections.records.set(connection, record);
}

/** A connection the plugin did not open (one opened before `use()`): known from its first checkout on. */
function adopt(engine: Engine, connection: Connection): ConnectionRecord {
  engine.host.adopt(connection);
  opened(engine, connection, engine.host.configOf(engine.host.poolOf(connection)));
  return engine.connections.records.get(connection)!;
}

/**
 * Within this much of its end of life at checkout, a connection's release reads the clock to
 * retire it if its lifetime ran out while it was in use. Further from it, no statement is taken
 * to last that long: one that does returns its connection to the pool, whose next checkout
 * retires it before any statement gets it.
 */
const NEAR_END_MS = 60_000;

/** A connection goes back to the pool; false when it is past its lifetime and was retired instead. */
export function released(engine: Engine, connection: Connection): boolean {
  const record = engine.connections.records.get(connection);
  if (record === undefined) return true;
  record.checkedOutWith = undefined;
  // usedAt NaN (never checked out by us) reads the clock too.
  if (record.retireAt - record.usedAt > NEAR_END_MS || engine.clock.now() < record.retireAt) return true;
  // retireAt 0: marked on a read-only server (see retireOnRelease).
  retire(engine, connection, record, record.retireAt === 0 ? 'read-only' : 'lifetime');
  return false;
}

/**
 * Settles to a connection fit for a statement: an idle one past its lifetime is retired, one
 * idle too long (or older than a dead sibling) is validated with a round trip, and either is
 * replaced. The common case costs a WeakMap lookup and two field writes.
 */
export function checkedOut(engine: Engine, options: AcquireOptions, connection: Connection): Connection | Promise<Connection> {
  // While others back off, a connection handed out says the server is back: wake them.
  if (engine.backoffs.sleeping > 0) engine.backoffs.wakeAll();
  const record = engine.connections.records.get(connection) ?? adopt(engine, connection);
  record.checkedOutWith = options;
  const now = engine.clock.now();
  const action = checkoutAction(record, engine.connections.marks[engine.host.poolOf(connection)], engine.options.hygiene, now);
  const lastUsed = record.usedAt;
  record.usedAt = now;
  if (action === 'use') return connection;
  const op = operationFor(engine.operations, options);
  if (action === 'retire') {
    retire(engine, connection, record, record.retireAt === 0 || now < record.retireAt ? 'read-only' : 'lifetime');
    return replace(engine, op, options);
  }
  return validate(engine, op, options, connection, record, now - (Number.isNaN(lastUsed) ? record.createdAt : lastUsed));
}

/** One attempt at a usable connection, bounded by the deadline once the operation has failed. */
export async function acquireAttempt(engine: Engine, op: Operation, options: AcquireOptions): Promise<Connection> {
  const connection = await (op.firstFailureAt === 0 ? engine.host.acquireOnce(options) : withinDeadline(engine, op, options));
  return checkedOut(engine, options, connection);
}

function withinDeadline(engine: Engine, op: Operation, options: AcquireOptions): Promise<Connection> {
  const { host, clock } = engine;
  const { deadlineMs } = policyFor(engine.policies, options);
  const since = clock.now();
  return withDeadline(
    clock,
    host.acquireOnce(options),
    remainingMs(op, deadlineMs, since),
    () => {
      abortAttempts(engine, since);
      return new DeadlineError(deadlineMs);
    },
    (late) => host.release(late),
  );
}

/**
 * Abandons the connects started since `since` (0: all of them) rather than leaving them open up
 * to the connect timeout: when a deadline passed while an attempt waited (one of them may be
 * what it waits for), and at `close()`. A caller waiting for one gets a transient connect
 * failure, retried within its own budget.
 */
export function abortAttempts(engine: Engine, since: number): void {
  for (const attempt of [...engine.connections.attempts]) if (attempt.startedAt >= since) attempt.abort();
}

async function validate(
  engine: Engine,
  op: Operation,
  options: AcquireOptions,
  connection: Connection,
  record: ConnectionRecord,
  idleMs: number,
): Promise<Connection> {
  const { validateTimeoutMs } = engine.options.hygiene;
  engine.stats.note('validations');
  try {
    await withDeadline(
      engine.clock,
      engine.host.ping(connection),
      validateTimeoutMs,
      () => new Error(`no answer within ${validateTimeoutMs} ms`),
      () => {},
    );
    record.checkedAt = engine.clock.now();
    return connection;
  } catch (error) {
    engine.stats.note('validationFailures');
    if (listening('validationFailed')) {
      publish(engine, 'validationFailed', { idleMs }, record.config);
    }
    engine.host.debug(
      `idle connection failed validation (${engine.redact(error instanceof Error ? error.message : String(error))}); replacing it`,
    );
    discard(engine, connection, 'dead');
    return replace(engine, op, options);
  }
}

/**
 * A write refused as on a standby (25006): the session's own refusal, not a lost connection? In
 * a transaction it may be the caller's `SET TRANSACTION READ ONLY` (the connection is not reused
 * all the same: it may be a standby after a failover); outside one, the session may be read only
 * by the application's own settings.
 */
export async function refusedBySession(engine: Engine, connection: Connection, inTransaction: boolean): Promise<boolean> {
  if (inTransaction) {
    retireOnRelease(engine, connection);
    return true;
  }
  if (!(await readOnlyBySettings(engine, connection))) return false;
  engine.host.debug('a write was refused by a session read only by its own settings, not by a standby: passed on');
  return true;
}

/**
 * Asked on the same connection, within `validateTimeoutMs`; a connection that cannot answer is
 * taken for a standby's.
 */
async function readOnlyBySettings(engine: Engine, connection: Connection): Promise<boolean> {
  const { validateTimeoutMs } = engine.options.hygiene;
  try {
    return await withDeadline(
      engine.clock,
      engine.host.readOnlyBySettings(connection),
      validateTimeoutMs,
      () => new Error(`no answer within ${validateTimeoutMs} ms`),
      () => {},
    );
  } catch {
    return false;
  }
}

/** Gets another connection; bounded, since the pool can only hold so many suspect ones. */
function replace(engine: Engine, op: Operation, options: AcquireOptions): Promise<Connection> {
  op.replacements++;
  if (op.replacements > engine.host.maxPoolSize() + 1) {
    return Promise.reject(new Error('sequelize-autoreconnect: every pooled connection failed validation'));
  }
  return acquireAttempt(engine, op, options);
}

/** Closes this connection when it is next released, instead of pooling it again. */
export function retireOnRelease(engine: Engine, connection: Connection): void {
  const record = engine.connections.records.get(connection);
  if (record) record.retireAt = 0;
}

/** A healthy connection we no longer want: closed, not counted as a disconnect. */
function retire(engine: Engine, connection: Connection, record: ConnectionRecord, reason: 'lifetime' | 'read-only'): void {
  engine.stats.note('retired');
  engine.host.debug(`connection ${reason === 'lifetime' ? 'reached its max lifetime' : 'points at a read-only server'}; closing it`);
  if (listening('retired')) publish(engine, 'retired', { reason, ageMs: engine.clock.now() - record.createdAt }, record.config);
  engine.host.destroy(connection);
}
