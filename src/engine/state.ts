import type { ConnectionStamps, PoolMarks } from '../core/hygiene';
import type { ResolvedPluginOptions } from '../core/options';
import type { PolicySource } from '../core/policy';
import { settlingUnsupported, type Dialect } from '../dialects';
import type { ReconnectConfig } from '../hooks';
import type { Operation } from './operation';
import type { TransactionIds } from '../dialects/types';
import type { AcquireOptions, Clock, Connection, HostPort, PoolName } from './port';
import { ConnectGates, CONNECT_PACE_MS } from './connect-gate';
import { Stats } from './stats';
import { Backoffs } from './backoffs';

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

/** The connections of one instance: what the plugin knows of each, and of its pools. */
export interface ConnectionsState {
  readonly records: WeakMap<Connection, ConnectionRecord>;
  /** By the error of a failed connection attempt. */
  readonly failedAttempts: WeakMap<object, FailedAttempt>;
  /** Without replication everything is the `write` pool. */
  readonly marks: Record<PoolName, PoolMarks>;
  /** Connections being opened right now (the pool's factory has not settled), waiting for the gate included. */
  opening: number;
  /** New connections to a server open one at a time (see connect-gate.ts). */
  readonly gates: ConnectGates;
  /** Driver connections being created right now, each bounded by the connect timeout. */
  readonly attempts: Set<ConnectAttempt>;
  /** Attempts to reach the server since the last that succeeded (see exhausted.ts). */
  readonly reach: Reachability;
}

/** Attempts to open a connection since the last one that succeeded. */
export interface Reachability {
  /** Failed attempts (refused, reset, timed out, ...) since the last success. */
  failures: number;
  /** When the first of them failed; 0 while the last attempt succeeded. */
  since: number;
  lastAt: number;
  /** The driver's code of the last failure (`ECONNREFUSED`, ...): never a message, which may quote settings. */
  code: string | undefined;
  /** When a connection was last opened: a sweep matters only if one was opened since the last. */
  openedAt: number;
}

export function newReachability(): Reachability {
  return { failures: 0, since: 0, lastAt: 0, code: undefined, openedAt: 0 };
}

export interface ConnectAttempt {
  readonly startedAt: number;
  /** Destroys the driver connection being created and fails the attempt as timed out. */
  abort(): void;
}

/** The transactions of one instance, as far as recovering their statements needs to know. */
export interface TransactionsState {
  /**
   * Transactions that have run a statement other than their opening ones: from then on not even
   * a `BEGIN` / `START TRANSACTION` of theirs may move to a new connection.
   */
  readonly underway: WeakSet<object>;
  /** Managed transactions that may be replayed: their COMMIT learns the transaction's id first. */
  readonly replayable: WeakSet<object>;
  /** The transaction whose statement failed, by its error: a managed transaction replays only its own failures. */
  readonly failedIn: WeakMap<object, object>;
}

/** How far a verified write got before it failed. */
export interface VerifiedFailure {
  /** `'commit'`: COMMIT was sent; before that, nothing of it can commit. */
  readonly stage: 'begin' | 'statement' | 'commit';
  readonly ids?: TransactionIds | undefined;
  /** The statement's own result, complete before COMMIT was sent. */
  readonly result?: unknown;
}

/** Definite outcomes: verified writes, and settling lost COMMITs. */
export interface OutcomesState {
  /** The server was found able to tell how a transaction ended (asked once, at the first use). */
  supported: boolean;
  /** Failures of verified writes, by their error: how far the attempt got. */
  readonly verifiedFailures: WeakMap<object, VerifiedFailure>;
}

/** Everything the engine keeps for one Sequelize instance, by concern. */
export interface Engine {
  readonly host: HostPort;
  /** The Sequelize instance, opaque: what events carry so a subscriber can tell instances apart. */
  readonly instance: object | undefined;
  readonly clock: Clock;
  readonly dialect: Dialect;
  readonly options: ResolvedPluginOptions;
  /** The retry policies: the plugin's, each model's (resolved once), and whether any asks for verified writes. */
  readonly policies: PolicySource;
  readonly redact: (text: string) => string;
  /** The operations that failed, by the options object Sequelize acquires their connection with. */
  readonly operations: WeakMap<object, Operation>;
  readonly connections: ConnectionsState;
  readonly transactions: TransactionsState;
  readonly outcomes: OutcomesState;
  readonly stats: Stats;
  /** Operations sleeping between attempts, woken together once the server answers or on close. */
  readonly backoffs: Backoffs;
  /** One connection attempt at a time while operations sleep in a connect backoff (see scout.ts). */
  readonly scout: ScoutState;
  /** `sequelize.close()` was called: nothing starts another attempt. */
  closed: boolean;
}

export interface ScoutState {
  /** How often it tries; `false`: never (unit tests that count attempts). */
  readonly intervalMs: number | false;
  /** Connect-phase sleepers, and the options of the latest (which pool to try). */
  sleepers: number;
  options: AcquireOptions | undefined;
  /** A timer is set or an attempt is under way: never more than one of either. */
  busy: boolean;
  /** Its last login was refused (nothing listened): it knocks until one is taken. */
  refused: boolean;
  /** When it last tried to log in. */
  loginAt: number;
  /** When it last found the server no longer refusing: its port had just opened. */
  openedAt: number;
}

export function createEngine(parts: {
  host: HostPort;
  clock: Clock;
  dialect: Dialect;
  options: ResolvedPluginOptions;
  redact: (text: string) => string;
  scoutMs?: number | false;
  instance?: object;
}): Engine {
  const { scoutMs = false, instance, ...rest } = parts;
  return {
    ...rest,
    instance,
    policies: {
      options: parts.options,
      modelPolicies: new WeakMap(),
      verifiedSeen: parts.options.retryWrites === 'verified',
      settlingUnsupported: (option) => settlingUnsupported(parts.dialect, option),
    },
    operations: new WeakMap(),
    connections: {
      records: new WeakMap(),
      failedAttempts: new WeakMap(),
      marks: { read: { sweptAt: 0, droppedAt: 0 }, write: { sweptAt: 0, droppedAt: 0 } },
      opening: 0,
      gates: new ConnectGates(parts.clock, CONNECT_PACE_MS),
      attempts: new Set(),
      reach: newReachability(),
    },
    transactions: { underway: new WeakSet(), replayable: new WeakSet(), failedIn: new WeakMap() },
    outcomes: { supported: false, verifiedFailures: new WeakMap() },
    stats: new Stats(),
    backoffs: new Backoffs(parts.clock),
    scout: { intervalMs: scoutMs, sleepers: 0, options: undefined, busy: false, refused: false, loginAt: 0, openedAt: -Infinity },
    closed: false,
  };
}

/**
 * The settings the next connection will be made with: the failed connection's own (one
 * replica's, with replication), else the pool's. A hook that changes them changes that host's.
 */
export function configFor(engine: Engine, pool: PoolName, connection?: Connection): ReconnectConfig {
  return (connection && engine.connections.records.get(connection)?.config) ?? engine.host.configOf(pool);
}

/** The settings a connection was opened with (the replica's, with replication). */
export function configOf(engine: Engine, connection: Connection): ReconnectConfig {
  return configFor(engine, engine.host.poolOf(connection), connection);
}

/** Notes the transaction whose statement failed with `error` (its own error, or a lost connection given up on). */
export function noteFailedIn<E>(engine: Engine, error: E, transaction: object | undefined): E {
  if (transaction && typeof error === 'object' && error !== null) engine.transactions.failedIn.set(error, transaction);
  return error;
}
