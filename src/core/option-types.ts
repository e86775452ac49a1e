/** The plugin's options as users write them, and as `resolveOptions` fills them in. */

/**
 * Which writes may be retried after the connection was lost under them.
 * - `'unsent'`: only when the statement certainly never reached the server.
 * - `'verified'`: a write outside a transaction runs in a short transaction whose id the plugin
 *   learns before COMMIT (PostgreSQL 13+; two more round trips). Lost before COMMIT: retried; lost
 *   during COMMIT: the server is asked whether it committed (then the call succeeds) or not
 *   (retried). Only when nobody can answer is it reported with `mayHaveExecuted: true`. On
 *   MySQL/MariaDB it is refused (a TypeError): at `use()` for the plugin's option and models
 *   defined by then, at the first query for a later model or a call.
 * - `'always'`: also when it may have run (at-least-once: it may then run twice).
 * - `'never'`: never retry a write; reads are still retried.
 */
export type RetryWrites = 'unsent' | 'verified' | 'always' | 'never';

export interface BackoffOptions {
  /**
   * Upper bound of the first delay. Delays grow as `baseMs * 2^(attempt-1)` with full jitter.
   * @default 100
   */
  baseMs?: number;
  /**
   * Cap on any single delay. Defaults to 2000, or to `baseMs` when that is larger.
   * @default 2000 (or `baseMs`, if larger)
   */
  maxMs?: number;
}

/** The retry rules; a model's `@AutoReconnect` takes these. */
export interface RetryOptions {
  /**
   * How many times one operation (a query, or acquiring a connection) is retried after a
   * lost or refused connection. `0` still evicts dead connections and reports typed errors.
   * @default 1
   */
  retries?: number;
  /** Delay between retries: exponential with full jitter. */
  backoff?: BackoffOptions;
  /**
   * Time budget in milliseconds for one operation's retries, counted from its first failure.
   * No retry starts, and no wait for a new connection lasts, past it.
   * @default 10000
   */
  deadlineMs?: number;
  /**
   * Whether a write whose connection was lost is retried. Reads are always retried.
   * @default 'unsent'
   */
  retryWrites?: RetryWrites;
}

/** Keeping the pool free of dead connections before a statement meets one. Per instance only. */
export interface PoolHygieneOptions {
  /**
   * A connection last handed to a statement at least this long ago (ms: its idle time, plus how
   * long that statement ran, as HikariCP counts from its last access) is checked with a round
   * trip before a statement gets it; a dead one is replaced, so even a write after a silent
   * drop runs once. `0` checks every checkout (SQLAlchemy's `pool_pre_ping`); `false` never.
   * @default 500
   */
  validateIdleMs?: number | false;
  /**
   * How long that check may take before the connection counts as dead.
   * @default 1000
   */
  validateTimeoutMs?: number;
  /**
   * When one connection is found dead, check the idle connections opened before that moment
   * before they are reused (one outage, one failure); when one is found pointing at a
   * read-only server after a failover, drop them.
   * @default true
   */
  sweep?: boolean;
  /**
   * Retire connections older than this (ms), less up to 10% random jitter so that they do not
   * all go at once; set it below any infrastructure timeout or credential lease. `false` keeps
   * connections for as long as the pool does.
   * @default 1800000 (30 minutes)
   */
  maxLifetimeMs?: number | false;
  /**
   * A connection attempt that gets no answer (a black-holed address, a listener that accepts and
   * never answers, a frozen server) is abandoned after this long (ms): its socket is destroyed and
   * it counts as a failed connect, retried within `retries` and `deadlineMs`. A healthy connect
   * takes milliseconds, and one to a loaded server or across regions well under a second: 5 s
   * never cuts those, yet bounds a dead one (the drivers alone wait forever, or 10 s and more).
   * Each attempt is also bounded by what is left of its operation's `deadlineMs` (an
   * operation's first attempt by the instance's `deadlineMs`, counted from its start): keep
   * `deadlineMs` well above the time a connect takes. `false`: only the drivers' own timeouts.
   * @default 5000
   */
  connectTimeoutMs?: number | false;
  /**
   * A statement whose connection has received nothing for this long (ms) is checked on a
   * separate, short-lived connection outside the pool (PostgreSQL: `pg_stat_activity` by the
   * session's backend pid; MySQL and MariaDB: `information_schema.PROCESSLIST` by its thread
   * id). Still running it: left alone, asked again later (a healthy long query is never cut).
   * Idle, gone, on another statement, or the server unreachable within `connectTimeoutMs`: its
   * answer was lost, so its socket is destroyed and it is recovered as after any lost
   * connection. A check that logs in and then gets no answer within this long (at least 1 s) is
   * abandoned and asked again later. A successful statement costs a few field writes (no timer,
   * no allocation): one timer per instance ticks while statements are in flight. `false`: a
   * connection that dies without a word waits as long as the driver does.
   * @default 2000
   */
  silenceMs?: number | false;
}

/** Options of `autoreconnect()`. */
export interface AutoReconnectOptions extends RetryOptions, PoolHygieneOptions {
  /**
   * Run a managed transaction (`sequelize.transaction(callback)`) again from the start, on a new
   * connection, when its connection was lost before COMMIT (or a lost COMMIT was found not
   * committed), within `retries`, `deadlineMs` and the backoff. The callback must be safe to run
   * again: no side effects outside the database, or idempotent ones. Per call:
   * `sequelize.transaction({ reconnect: { replay: true } }, callback)`. Refused (a TypeError)
   * with `retries: 0` (no replay left) or `retryWrites: 'never'` (a replay runs lost writes again).
   * @default false
   */
  replayTransactions?: boolean;
  /**
   * Also run a managed transaction again when it failed on a serialization failure or a deadlock
   * (PostgreSQL 40001, 40P01): the server rolled it back. Same budget, same rule for the
   * callback. Per call: `{ reconnect: { conflicts: true } }`. Refused with `retries: 0`; allowed
   * under `retryWrites: 'never'` (the server rolled the transaction back: nothing was lost).
   * @default false
   */
  replayConflicts?: boolean;
}

/**
 * `sequelize.transaction({ reconnect }, callback)`: `replay` overrides `replayTransactions`,
 * `conflicts` overrides `replayConflicts`. A managed transaction only: `true` without a callback
 * is refused with a TypeError, as is one the plugin's `retries: 0` (or, for `replay`,
 * `retryWrites: 'never'`) could never honour. Not `false`: only `query()` and the model methods
 * take `reconnect: false`.
 */
export type ReconnectTransactionOption = { replay?: boolean; conflicts?: boolean };

export interface ResolvedHygiene {
  readonly validateIdleMs: number | false;
  readonly validateTimeoutMs: number;
  readonly sweep: boolean;
  readonly maxLifetimeMs: number | false;
  readonly connectTimeoutMs: number | false;
  readonly silenceMs: number | false;
}

export interface ResolvedPluginOptions extends ResolvedOptions {
  readonly hygiene: ResolvedHygiene;
  readonly replayTransactions: boolean;
  readonly replayConflicts: boolean;
}

export interface ResolvedOptions {
  readonly retries: number;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  readonly deadlineMs: number;
  readonly retryWrites: RetryWrites;
}

/**
 * Per-call option, on every Sequelize method that runs SQL: `{ reconnect: false }` or
 * `{ reconnect: { retries, idempotent, retryWrites } }`.
 */
export type ReconnectQueryOption = false | { retries?: number; idempotent?: boolean; retryWrites?: RetryWrites };
