import type { ConnectionStamps, PoolMarks } from '../core/hygiene';
import type { ResolvedOptions, ResolvedPluginOptions } from '../core/options';
import type { PolicySource } from '../core/policy';
import type { Dialect } from '../dialects';
import type { ReconnectConfig } from '../hooks';
import type { Operation } from './operation';
import type { VerifiedFailure } from './verified';
import type { AcquireOptions, Clock, Connection, HostPort, PoolName } from './port';
import { Stats } from './stats';
import { Backoffs } from './timing';

/** What the plugin knows of one connection it opened. */
export interface ConnectionRecord extends ConnectionStamps {
  /** The settings it was opened with: the write config or one read replica's. */
  readonly config: ReconnectConfig;
  /** The options it was last checked out with: a failure of its statement belongs to their operation. */
  checkedOutWith: AcquireOptions | undefined;
}

/** Which settings, and which password, a failed connection attempt used. */
export interface FailedAttempt {
  readonly config: ReconnectConfig;
  readonly password: unknown;
}

/** Everything the engine keeps for one Sequelize instance. */
export interface Engine extends PolicySource {
  readonly host: HostPort;
  readonly clock: Clock;
  readonly dialect: Dialect;
  readonly options: ResolvedPluginOptions;
  readonly modelPolicies: WeakMap<object, ResolvedOptions>;
  /** The operations that failed, by the options object Sequelize acquires their connection with. */
  readonly operations: WeakMap<object, Operation>;
  readonly records: WeakMap<Connection, ConnectionRecord>;
  /** By the error of a failed connection attempt. */
  readonly failedAttempts: WeakMap<object, FailedAttempt>;
  /**
   * Transactions that have run a statement other than their opening ones: from then on not even
   * a `BEGIN` / `START TRANSACTION` of theirs may move to a new connection.
   */
  readonly transactionsUnderway: WeakSet<object>;
  /** Without replication everything is the `write` pool. */
  readonly marks: Record<PoolName, PoolMarks>;
  readonly stats: Stats;
  /** Operations sleeping between attempts, woken together once the server answers or on close. */
  readonly backoffs: Backoffs;
  readonly redact: (text: string) => string;
  /** `sequelize.close()` was called: nothing starts another attempt. */
  closed: boolean;
  /** Connections being opened right now (the pool's factory has not settled). */
  opening: number;
  verifiedSeen: boolean;
  /** The server was found able to tell how a transaction ended (asked once, at the first use). */
  outcomesSupported: boolean;
  /** Managed transactions that may be replayed: their COMMIT learns the transaction's id first. */
  readonly replayable: WeakSet<object>;
  /** The transaction whose statement failed, by its error: a managed transaction replays only its own failures. */
  readonly failedIn: WeakMap<object, object>;
  /** Failures of verified writes, by their error: how far the attempt got. */
  readonly verifiedFailures: WeakMap<object, VerifiedFailure>;
}

export function createEngine(parts: {
  host: HostPort;
  clock: Clock;
  dialect: Dialect;
  options: ResolvedPluginOptions;
  redact: (text: string) => string;
}): Engine {
  return {
    ...parts,
    modelPolicies: new WeakMap(),
    operations: new WeakMap(),
    records: new WeakMap(),
    failedAttempts: new WeakMap(),
    transactionsUnderway: new WeakSet(),
    marks: { read: { sweptAt: 0, droppedAt: 0 }, write: { sweptAt: 0, droppedAt: 0 } },
    stats: new Stats(),
    backoffs: new Backoffs(parts.clock),
    closed: false,
    opening: 0,
    verifiedSeen: parts.options.retryWrites === 'verified',
    outcomesSupported: false,
    verifiedFailures: new WeakMap(),
    failedIn: new WeakMap(),
    replayable: new WeakSet(),
  };
}

/**
 * Sequelize's acquire timeout while no connection was being opened: every connection was busy
 * and none was lost. With one being opened, the timeout is an outage (a server that accepts and
 * never answers): a connect failure like any other.
 */
export function poolBusy(engine: Engine, error: unknown): boolean {
  return engine.opening === 0 && engine.host.isPoolExhausted(error);
}

/** Which pool a connection belongs to. */
export function poolOf(connection: Connection): PoolName {
  return connection.queryType ?? 'write';
}

/**
 * The settings the next connection will be made with: the failed connection's own (one
 * replica's, with replication), else the pool's. A hook that changes them changes that host's.
 */
export function configFor(engine: Engine, pool: PoolName, connection?: Connection): ReconnectConfig {
  return (connection && engine.records.get(connection)?.config) ?? engine.host.configOf(pool);
}

export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** Notes the transaction whose statement failed with `error` (its own error, or a lost connection given up on). */
export function noteFailedIn<E>(engine: Engine, error: E, transaction: object | undefined): E {
  if (transaction && typeof error === 'object' && error !== null) engine.failedIn.set(error, transaction);
  return error;
}
