import type { DialectClassifier } from '../core/failure';
import type { TransactionLike } from '../engine/port';
import type { TransactionStatus } from '../core/settle';

/** The transaction a verified write runs in, as the server numbered it. */
export interface TransactionIds {
  /** The transaction's id, as text (PostgreSQL's 64-bit `xid8`); null when it has written nothing. */
  readonly xid: string | null;
  /** The server process of its session. */
  readonly pid: number;
  /**
   * Which history of which server numbered it (PostgreSQL: system identifier and timeline): a
   * status answer from another history (a promoted standby reuses ids) is no answer.
   */
  readonly history?: string | null;
}

/**
 * What verified writes need of a dialect: SQL run on a driver connection, outside Sequelize.
 * Functions, not methods: they are passed around unbound.
 */
export interface OutcomeQueries {
  /** Raw SQL that is exactly one INSERT, UPDATE or DELETE (lexed as this server does): what a verified write may wrap. */
  readonly isPlainDml: (sql: string) => boolean;
  /** Opens a transaction and learns its ids, in one round trip. */
  readonly begin: (connection: unknown) => Promise<TransactionIds>;
  /** The ids of the transaction open on this connection, without giving it an id it does not have. */
  readonly ids: (connection: unknown) => Promise<TransactionIds>;
  /** The error says the transaction was already aborted (a statement of it failed): its COMMIT rolls back. */
  readonly aborted: (error: unknown) => boolean;
  /** Why this server cannot tell how a transaction ended (too old a version), or undefined when it can. */
  readonly unsupported: (connection: unknown) => Promise<string | undefined>;
  readonly commit: (connection: unknown) => Promise<void>;
  readonly rollback: (connection: unknown) => Promise<void>;
  /** Asks, on another connection, what became of a transaction. */
  readonly status: (connection: unknown, ids: TransactionIds) => Promise<TransactionStatus>;
  /** Ends the old session if it still runs that transaction; true when it was asked to end. */
  readonly endSession: (connection: unknown, ids: TransactionIds) => Promise<boolean>;
}

/** What the plugin needs of a database dialect. */
export interface Dialect {
  /** Sequelize's name for it (`sequelize.getDialect()`). */
  readonly name: string;
  /** Pure classification of errors and SQL text. */
  readonly classifier: DialectClassifier;
  /** Resolves when the connection answered a trivial statement. A function, not a method: it is passed around unbound. */
  readonly ping: (connection: unknown) => Promise<void>;
  /**
   * After a refusal to write outside a transaction: is this session read only by the
   * application's own settings (its role's, its database's, its own), on a server that is not a
   * standby? Then the refusal is the application's, not a failover.
   */
  readonly readOnlyBySettings?: (connection: unknown) => Promise<boolean>;
  /**
   * What this dialect's Sequelize Query resolves a `ROLLBACK` with, returned when the server has
   * already rolled the transaction back with the lost session.
   */
  readonly rolledBackResult: () => unknown;
  /**
   * Why this dialect cannot work with these Sequelize settings (`sequelize.config`), or undefined
   * when it can: checked at `use()`, reported as a TypeError naming the setting.
   */
  readonly unsupported?: (config: Readonly<Record<string, unknown>>) => string | undefined;
  /** For `retryWrites: 'verified'`; a dialect without it runs verified writes like `'unsent'` ones. */
  readonly outcomes?: OutcomeQueries;
  /**
   * When the statement that opens `transaction` moves to a new connection: a statement to run
   * there first, restoring what the lost connection held for it (MySQL sets the isolation level
   * of the next transaction in a statement of its own, before `START TRANSACTION`).
   */
  readonly transactionPrelude?: (sql: string, transaction: TransactionLike) => string | undefined;
  /**
   * Per-instance hardening of the driver: a view of the driver module (`lib`, what Sequelize's
   * connection manager creates connections with) whose connections are hardened from birth, and
   * tell `created` of themselves; a dialect with `driverStatements` also hands each statement's
   * driver call to `tap` there. Returns `lib` itself when it cannot create connections (a stub
   * `dialectModule`): Sequelize then fails to connect as it would without the plugin.
   */
  readonly guardDriver?: (lib: object, tap: DriverTap | undefined, created: (connection: object) => void) => object;
  /** Closes a driver connection at once: one Sequelize's `connect()` made and then lost track of. */
  readonly destroyDriverConnection?: (connection: object) => void;
  /**
   * Destroys what `created` received, a driver connection still being created, with no graceful
   * end (a connect that got no answer would wait for that too); a later failure of it is ignored.
   */
  readonly abortDriverConnection?: (connection: object) => void;
  /**
   * For a driver that takes a callback per statement: the engine watches a statement there,
   * below Sequelize's promise, so one that succeeds costs no promise reaction of the plugin's.
   * Without it, the engine watches the promise of Sequelize's `run`.
   */
  readonly driverStatements?: DriverStatements;
  /** Telling a connection that went silent under a statement from one still working on it. */
  readonly silence?: SilenceProbe;
}

/**
 * What the server says of a session whose statement has heard nothing for a while. `running`:
 * still on a statement (`started`: which one, to compare at the next check); `alive`: the server
 * answered, nothing more (a refusal for too many connections); `lost`: its answer will never
 * come; `pooled`: a pooler in between (pgbouncer), so the session's id is not the server's;
 * `unknown`: no verdict (an error, a statement that just finished): asked again later.
 */
export type SessionVerdict =
  | { readonly state: 'running'; readonly started: string }
  | { readonly state: 'alive' | 'lost' | 'pooled' | 'unknown'; readonly why: string };

/** A connection whose statement has heard nothing for a while, and what the last check learned of it. */
export interface SilentSession {
  readonly connection: unknown;
  readonly started: string | undefined;
}

/** How long a check may take. */
export interface CheckBounds {
  /** To log in: no login by then, the server is unreachable (lost). */
  readonly connectMs: number;
  /** Logged in, for the answer: none by then, no verdict (unknown, asked again later). */
  readonly answerMs: number;
  /** A session idle for less than this may have an answer on its way (unknown). */
  readonly graceMs: number;
}

export interface SilenceProbe {
  /** Bytes the connection's socket has received so far; undefined when there is none to watch. */
  readonly bytesRead: (connection: unknown) => number | undefined;
  /**
   * Asks the server, on a separate short-lived connection outside the pool (always closed),
   * about each connection's session: one check connection per server, whatever the number of
   * its sessions asked about. A verdict per subject, in order. `started`: what the last check
   * learned.
   */
  readonly ask: (subjects: readonly SilentSession[], bounds: CheckBounds) => Promise<SessionVerdict[]>;
  /** Destroys the connection's socket at once with `error`: its statement fails as after any lost connection. */
  readonly cut: (connection: unknown, error: Error) => void;
  /** Turns TCP keepalive on with short probes: what is left when the server cannot be asked. */
  readonly keepAlive: (connection: unknown) => void;
}

export type DriverCallback = (error: unknown, result?: unknown) => void;

/**
 * How the engine watches statements at the driver. Sequelize's `run` makes its driver call
 * synchronously; the patch arms the tap just before, and the driver connection's call swaps the
 * callback for the engine's, which hands the result (or a recovered one) on to Sequelize's. A
 * client opened before the plugin was installed is adopted (`adopt`) at its first checkout.
 */
export interface DriverTap {
  /** A statement the engine watches is about to make its driver call. */
  readonly armed: boolean;
  /** The callback for this driver call on `connection`, in place of Sequelize's `callback` (itself when not armed for it). */
  take(connection: unknown, config: unknown, values: unknown, callback: DriverCallback): DriverCallback;
}

export interface DriverStatements {
  /** Makes a statement's driver call again (`values` undefined: none), on another connection. */
  readonly rerun: (connection: unknown, config: unknown, values: unknown) => Promise<unknown>;
  /** The driver's result for a `ROLLBACK`, for one the server made with the lost session. */
  readonly rolledBack: () => unknown;
  /** Hardens, and gives the tap to, a driver connection the plugin did not open (one opened before `use()`). */
  readonly adopt: (connection: unknown, tap: DriverTap) => void;
}
