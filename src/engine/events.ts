import { channel, type Channel } from 'node:diagnostics_channel';
import type { Sequelize } from 'sequelize';
import type { GiveUpReason } from '../core/decide';
import type { ReconnectFailure } from '../core/failure';
import type { ReconnectConfig } from '../hooks';
import type { Operation } from './operation';
import type { Engine } from './state';

/**
 * What the plugin did, published on Node's `diagnostics_channel` (one channel per event) so
 * that APM agents and applications can watch it without a dependency. A payload is built only
 * when its channel has a subscriber: with none, publishing costs one property read.
 */
export const channels = {
  connectionLost: 'sequelize-autoreconnect:connection-lost',
  reconnect: 'sequelize-autoreconnect:reconnect',
  retry: 'sequelize-autoreconnect:retry',
  giveUp: 'sequelize-autoreconnect:give-up',
  recovered: 'sequelize-autoreconnect:recovered',
  validationFailed: 'sequelize-autoreconnect:validation-failed',
  sweep: 'sequelize-autoreconnect:sweep',
  retired: 'sequelize-autoreconnect:retired',
  settled: 'sequelize-autoreconnect:settled',
  transactionReplayed: 'sequelize-autoreconnect:transaction-replayed',
  silenceDetected: 'sequelize-autoreconnect:silence-detected',
} as const;

/** What every event carries. Never a user name or password. */
export interface ReconnectEventBase {
  /** The instance it happened on: a subscriber watching several can filter. */
  readonly sequelize: Sequelize;
  readonly dialect: 'postgres' | 'mysql' | 'mariadb';
  /** `host:port` as configured (`host` alone without a configured port); with replication, the replica concerned. */
  readonly host: string;
}

/** A connection was found lost, or an attempt to open one failed in a way worth acting on. */
export interface ConnectionLostEvent extends ReconnectEventBase {
  /** `'connect'`: opening a connection failed; `'query'`: a statement's connection died; `'transaction'`: one in a transaction; `'commit'`: under a COMMIT. */
  readonly phase: 'connect' | 'query' | 'transaction' | 'commit';
  /** The classification hooks see as `context.failure`. */
  readonly failure: ReconnectFailure;
  /** The driver's error code (`ECONNRESET`, `57P01`, `PROTOCOL_CONNECTION_LOST`, ...), if it had one. */
  readonly code: string | undefined;
  /** The statement ran in a transaction. */
  readonly inTransaction: boolean;
}

/** One attempt at a replacement connection, and its result. */
export interface ReconnectEvent extends ReconnectEventBase {
  /** The retry it belongs to, 1-based. */
  readonly attempt: number;
  readonly ok: boolean;
  /** How long this attempt took. */
  readonly durationMs: number;
  /** Why it failed, when not `ok`. */
  readonly failure?: ReconnectFailure | undefined;
}

/** A retry starts (after its backoff). */
export interface RetryEvent extends ReconnectEventBase {
  /** 1-based: the hooks' `context.attempt`. */
  readonly attempt: number;
  /** The backoff slept before it (cut short when the server answered again). */
  readonly delayMs: number;
  readonly phase: 'connect' | 'query' | 'transaction';
  /** What is retried: a read, a write (or raw SQL), or a whole managed transaction. */
  readonly operation: 'read' | 'write' | 'transaction';
}

/** An operation failed for good: the caller gets a `ConnectionLostError` (or `ConnectFailureError`). */
export interface GiveUpEvent extends ReconnectEventBase {
  readonly reason: GiveUpReason;
  readonly mayHaveExecuted: boolean;
  /** Whether a lost COMMIT committed: `undefined` when unknown (or no COMMIT was lost). */
  readonly committed: boolean | undefined;
  /** Attempts made, the first included. */
  readonly attempts: number;
  /** From the operation's first failure to now. */
  readonly elapsedMs: number;
}

/** An operation succeeded after at least one retry: `elapsedMs` is the outage it saw. */
export interface RecoveredEvent extends ReconnectEventBase {
  readonly attempts: number;
  readonly elapsedMs: number;
}

/** A pooled connection checked before reuse was found dead (and replaced). */
export interface ValidationFailedEvent extends ReconnectEventBase {
  /** How long it had been idle. */
  readonly idleMs: number;
}

/**
 * A connection of this pool was found dead (or on a read-only server), or could not be opened:
 * with `poolHygiene.sweep`, every idle connection older than now becomes suspect, and is checked
 * (dead) or retired (read-only) when the pool next hands it out. The sweep is lazy: how many it
 * will check and remove is not known yet; `validationFailed` and `retired` events follow one by one.
 */
export interface SweepEvent extends ReconnectEventBase {
  /** Which of Sequelize's pools (`'write'` without replication). */
  readonly pool: 'read' | 'write';
  /** `'dead'`: older idle connections are validated before reuse; `'read-only'`: they are retired. */
  readonly reason: 'dead' | 'read-only';
}

/** A healthy connection was closed: too old (`maxLifetimeMs`), or pointing at a read-only server after a failover. */
export interface RetiredEvent extends ReconnectEventBase {
  readonly reason: 'lifetime' | 'read-only';
  readonly ageMs: number;
}

/** The outcome of a lost COMMIT was asked of the server: a verified write's, or a managed transaction's. */
export interface SettledEvent extends ReconnectEventBase {
  readonly kind: 'verified-write' | 'commit';
  /** `undefined`: the server could not tell. */
  readonly committed: boolean | undefined;
}

/** A managed transaction runs again from the start. */
export interface TransactionReplayedEvent extends ReconnectEventBase {
  /** 1-based. */
  readonly attempt: number;
}

/** The silence watchdog found a connection dead and destroyed its socket. */
export interface SilenceDetectedEvent extends ReconnectEventBase {
  /** Silence before the verdict. */
  readonly silentMs: number;
  /** From the start of the silence to the socket destroyed. */
  readonly detectionMs: number;
  /** Why (short, redacted). */
  readonly verdict: string;
}

/** Each channel's payload, by its key in `channels`. */
export interface ReconnectEvents {
  connectionLost: ConnectionLostEvent;
  reconnect: ReconnectEvent;
  retry: RetryEvent;
  giveUp: GiveUpEvent;
  recovered: RecoveredEvent;
  validationFailed: ValidationFailedEvent;
  sweep: SweepEvent;
  retired: RetiredEvent;
  settled: SettledEvent;
  transactionReplayed: TransactionReplayedEvent;
  silenceDetected: SilenceDetectedEvent;
}

export type ChannelKey = keyof ReconnectEvents;

// Held here: Node keeps channels weakly, and `hasSubscribers` must be one read.
const live = Object.fromEntries(Object.entries(channels).map(([key, name]) => [key, channel(name)])) as Record<ChannelKey, Channel>;

/** Does anyone listen? Call sites test this before building a payload. */
export function listening(key: ChannelKey): boolean {
  return live[key].hasSubscribers;
}

/** `host:port` of a config: never its user or password. */
export function hostLabel(config: ReconnectConfig): string {
  const host = config.host ?? 'localhost';
  return config.port === undefined || config.port === '' ? host : `${host}:${String(config.port)}`;
}

/**
 * Publishes an event (call only when `listening(key)`). `config`: the settings of the host
 * concerned; default the write pool's. A subscriber that throws is Node's to report, not ours.
 */
export function publish<K extends ChannelKey>(
  engine: Engine,
  key: K,
  fields: Omit<ReconnectEvents[K], keyof ReconnectEventBase>,
  config?: ReconnectConfig,
): void {
  const base: ReconnectEventBase = {
    sequelize: engine.instance as Sequelize,
    dialect: engine.dialect.name as ReconnectEventBase['dialect'],
    host: hostLabel(config ?? engine.host.configOf('write')),
  };
  live[key].publish({ ...base, ...fields });
}

/** A connection was found lost (or could not be opened): told to `connectionLost` subscribers. */
export function publishLost(
  engine: Engine,
  phase: 'connect' | 'query' | 'transaction' | 'commit',
  failure: ReconnectFailure,
  error: unknown,
  config: ReconnectConfig,
  inTransaction = phase === 'transaction' || phase === 'commit',
): void {
  if (listening('connectionLost')) publish(engine, 'connectionLost', { phase, failure, code: errorCode(error), inTransaction }, config);
}

/** An operation succeeded after at least one retry: told to `recovered` subscribers. */
export function publishRecovered(engine: Engine, op: Operation, config?: ReconnectConfig): void {
  if (listening('recovered')) {
    publish(engine, 'recovered', { attempts: op.retriesMade + 1, elapsedMs: elapsedSince(engine, op) }, config);
  }
}

/** Since the operation's first failure. */
export function elapsedSince(engine: Engine, op: Operation): number {
  return op.firstFailureAt === 0 ? 0 : engine.clock.now() - op.firstFailureAt;
}

/** The driver's error code, outermost first (Sequelize wraps it as `original`/`parent`). */
export function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const e = current as Readonly<Record<string, unknown>>;
    if (typeof e['code'] === 'string') return e['code'];
    current = e['original'] ?? e['parent'];
  }
  return undefined;
}
