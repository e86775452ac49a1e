import type { Model, ModelStatic } from 'sequelize';
import { nextStep, type GiveUpReason } from '../core/decide';
import type { ReconnectFailure } from '../core/failure';
import { modelOf, policyFor, type Policy } from '../core/policy';
import type { ReconnectContext } from '../hooks';
import { acquireAttempt, markPool } from './checkout';
import { giveUp } from './give-up';
import { hasReconnectHook } from './run-hook';
import { operationFor, remainingMs, type Operation } from './operation';
import type { AcquireOptions, Connection, PoolName } from './port';
import { recover, type Outcome, type Phase } from './recover';
import { asError, poolBusy, type Engine } from './state';
import { DeadlineError } from './timing';

/**
 * A first attempt at a connection failed: recover, within the operation's budget. A pool that
 * stayed full until its `acquire` timeout lost nothing: Sequelize's error goes to the caller as
 * it is, with no operation (Sequelize's own `retry`, if it matches that error, tries as bare).
 */
export function connectFailed(engine: Engine, options: AcquireOptions, error: unknown): Promise<Connection> {
  if (poolBusy(engine, error)) return Promise.reject(error);
  return recover(engine, new ConnectPhase(engine, operationFor(engine.operations, options), options), error);
}

/**
 * A connection for an operation that has failed before: given up already (Sequelize's own
 * retry gets the same error at once), or one attempt within its deadline, recovered from.
 */
export function acquireFor(engine: Engine, op: Operation, options: AcquireOptions): Promise<Connection> {
  if (op.final) return Promise.reject(op.final);
  return acquireAttempt(engine, op, options).catch((error: unknown) =>
    poolBusy(engine, error) ? Promise.reject(error) : recover(engine, new ConnectPhase(engine, op, options), error),
  );
}

/**
 * Opening a connection failed (refused, starting up, too many connections, reset, a login
 * refused that a hook may fix): retried with backoff within the operation's budget.
 */
class ConnectPhase implements Phase<Connection> {
  readonly name = 'connect';
  readonly immediateFirst = false;
  readonly retries: number;
  readonly deadlineMs: number;
  readonly backoff: Policy['backoff'];
  private readonly model: ModelStatic<Model> | undefined;
  private readonly pool: PoolName;

  constructor(
    private readonly engine: Engine,
    readonly op: Operation,
    private readonly options: AcquireOptions,
  ) {
    ({ retries: this.retries, deadlineMs: this.deadlineMs, backoff: this.backoff } = policyFor(engine.policies, options));
    this.model = modelOf(options) as ModelStatic<Model> | undefined;
    this.pool = engine.host.poolFor(options);
  }

  assess(error: unknown): { step: ReturnType<typeof nextStep>; failure: ReconnectFailure } {
    const { engine, op } = this;
    // A deadline of ours is no failure to report: the last real one is.
    const deadlinePassed = error instanceof DeadlineError;
    if (!deadlinePassed) op.cause = error;
    // A full pool during a retry: given up at once, with Sequelize's error (see give-up.ts).
    const exhausted = poolBusy(engine, error);
    const kind = engine.closed || deadlinePassed || exhausted ? 'fatal' : engine.dialect.classifier.classifyConnectError(error);
    const step = nextStep({
      phase: 'connect',
      closed: engine.closed,
      deadlinePassed,
      kind,
      canRefresh: kind === 'auth' && hasReconnectHook(engine, this.model, 'beforeReconnect'),
      staleLogin: kind === 'auth' && this.refusedWithReplacedPassword(error) && op.staleLogins < engine.host.maxPoolSize(),
      budget: () => ({
        retriesMade: op.retriesMade,
        retries: this.retries,
        remainingMs: remainingMs(op, this.deadlineMs, engine.clock.now()),
      }),
    });
    if (!exhausted && (step.action !== 'give-up' || step.counted)) engine.stats.note('connectFailures');
    // The server was unreachable: idle connections to it may be dead too.
    if (kind === 'transient' && step.action !== 'retry-now') markPool(engine, this.pool, 'dead');
    return { step, failure: kind === 'auth' ? 'auth' : 'transient' };
  }

  /**
   * The pool hands a failed login to its oldest waiter: this one may have started before a
   * hook (ours or a concurrent caller's) replaced the password. Try the new one at once.
   */
  retryNow(): Promise<Connection> {
    this.op.staleLogins++;
    return acquireAttempt(this.engine, this.op, this.options);
  }

  context(error: unknown, failure: ReconnectFailure): ReconnectContext {
    const { engine, pool } = this;
    const config = this.failedAttempt(error)?.config ?? engine.host.configOf(pool);
    return {
      error: asError(error),
      attempt: this.op.retriesMade,
      phase: 'connect',
      failure,
      config,
      pool: engine.host.replicated ? pool : undefined,
      host: config.host,
      model: this.model,
      transaction: (this.options.transaction ?? undefined) as ReconnectContext['transaction'],
    };
  }

  reconnect(): Promise<Connection> {
    return acquireAttempt(this.engine, this.op, this.options);
  }

  reconnectFailed(reconnectError: unknown): unknown {
    return reconnectError;
  }

  install(): void {
    this.engine.backoffs.wakeAll();
  }

  abandon(connection: Connection): void {
    this.engine.host.release(connection);
  }

  finish(connection: Connection): Promise<Outcome<Connection>> {
    const { op } = this;
    if (!op.recovering) this.engine.stats.note('retriesSucceeded');
    this.engine.host.debug(`reconnected after ${op.retriesMade} ${op.retriesMade === 1 ? 'retry' : 'retries'}`);
    return Promise.resolve({ done: true, value: connection });
  }

  giveUp(reason: GiveUpReason, hookError?: unknown, cause?: unknown): Error {
    if (cause !== undefined && !(cause instanceof DeadlineError)) this.op.cause = cause;
    return giveUp(this.engine, this.op, { phase: 'connect', reason, cause: this.op.cause, hookError });
  }

  private failedAttempt(error: unknown) {
    return typeof error === 'object' && error !== null ? this.engine.connections.failedAttempts.get(error) : undefined;
  }

  /** Was this login refused with a password that has been replaced on its config since? */
  private refusedWithReplacedPassword(error: unknown): boolean {
    const attempt = this.failedAttempt(error);
    return attempt !== undefined && attempt.password !== attempt.config.password;
  }
}
