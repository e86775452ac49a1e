import type { Model, ModelStatic } from 'sequelize';
import { nextStep, type Step } from '../core/decide';
import type { ReconnectFailure } from '../core/failure';
import { modelOf, policyFor } from '../core/policy';
import type { ReconnectContext } from '../hooks';
import { acquireAttempt } from './checkout';
import { markPool } from './discard';
import { explainExhausted, poolBusy } from './exhausted';
import { giveUp } from './give-up';
import { hasReconnectHook } from './run-hook';
import { operationFor, type Operation } from './operation';
import type { AcquireOptions, Connection, PoolName } from './port';
import { publishLost, publishRecovered } from './events';
import { retry, type GiveUpWith, type RetryAbout, type RetryPlan } from './retry';
import type { Engine } from './state';
import { ConnectTimeoutError, DeadlineError } from './timing';

/**
 * A first attempt at a connection failed: recover, within the operation's budget. A pool that
 * stayed full until its `acquire` timeout lost nothing: Sequelize's error goes to the caller as
 * it is, with no operation (Sequelize's own `retry`, if it matches that error, tries as bare).
 */
export function connectFailed(engine: Engine, options: AcquireOptions, error: unknown, askedAt: number): Promise<Connection> {
  if (poolBusy(engine, error)) return Promise.reject(explainExhausted(engine, error));
  const op = operationFor(engine.operations, options);
  // A first attempt that got no answer: the operation has been failing since it started, or
  // since its caller asked, if later (the pool hands a failed attempt to its oldest waiter,
  // which may have come after the attempt began).
  if (error instanceof ConnectTimeoutError && op.firstFailureAt === 0) op.firstFailureAt = Math.max(error.startedAt, askedAt);
  return new ConnectRecovery(engine, op, options).run(error);
}

/**
 * A connection for an operation that has failed before: given up already (Sequelize's own
 * retry gets the same error at once), or one attempt within its deadline, recovered from.
 */
export async function acquireFor(engine: Engine, op: Operation, options: AcquireOptions): Promise<Connection> {
  if (op.final) throw op.final;
  try {
    return await acquireAttempt(engine, op, options);
  } catch (error) {
    if (poolBusy(engine, error)) throw explainExhausted(engine, error);
    return new ConnectRecovery(engine, op, options).run(error);
  }
}

/**
 * Opening a connection failed (refused, starting up, too many connections, reset, a login
 * refused that a hook may fix): retried with backoff within the operation's budget.
 */
class ConnectRecovery {
  private readonly plan: RetryPlan;
  private readonly model: ModelStatic<Model> | undefined;
  private readonly pool: PoolName;

  constructor(
    private readonly engine: Engine,
    private readonly op: Operation,
    private readonly options: AcquireOptions,
  ) {
    const { retries, deadlineMs, backoff } = policyFor(engine.policies, options);
    const operation = engine.host.isRead(options.type) ? 'read' : 'write';
    this.plan = { name: 'connect', retries, deadlineMs, backoff, immediateFirst: false, operation };
    this.model = modelOf(options) as ModelStatic<Model> | undefined;
    this.pool = engine.host.poolFor(options);
  }

  async run(firstError: unknown): Promise<Connection> {
    const { engine, op, plan } = this;
    let error = firstError;
    for (;;) {
      const { step, failure } = this.decide(error);
      if (step.action === 'give-up') throw this.giveUp(step.reason);
      if (step.action === 'retry-now') {
        // The pool hands a failed login to its oldest waiter: this one may have started before a
        // hook (ours or a concurrent caller's) replaced the password. Try the new one at once.
        op.staleLogins++;
        try {
          return await acquireAttempt(engine, op, this.options);
        } catch (retryError) {
          error = retryError;
          continue;
        }
      }
      const next = await retry(engine, op, plan, this.about(failure, error), error, acquireAttempt, this.options, this.giveUp);
      if ('failed' in next) {
        error = next.failed;
        continue;
      }
      const { connection, context } = next;
      if (!op.recovering) {
        engine.stats.note('retriesSucceeded');
        publishRecovered(engine, op, context.config);
      }
      engine.host.debug(`reconnected after ${op.retriesMade} ${op.retriesMade === 1 ? 'retry' : 'retries'}`);
      return connection;
    }
  }

  private decide(error: unknown): { step: Step; failure: ReconnectFailure } {
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
      budget: { spent: op, limits: this.plan, now: engine.clock.now() },
    });
    const failure = kind === 'auth' ? 'auth' : 'transient';
    if (!exhausted && (step.action !== 'give-up' || step.counted)) {
      engine.stats.note('connectFailures');
      const config = this.failedAttempt(error)?.config ?? engine.host.configOf(this.pool);
      publishLost(engine, 'connect', failure, error, config, !!this.options.transaction);
    }
    // The server was unreachable: idle connections to it may be dead too.
    if (kind === 'transient' && step.action !== 'retry-now') markPool(engine, this.pool, 'dead');
    return { step, failure };
  }

  private about(failure: ReconnectFailure, error: unknown): RetryAbout {
    const { engine, pool } = this;
    const config = this.failedAttempt(error)?.config ?? engine.host.configOf(pool);
    return {
      phase: 'connect',
      failure,
      config,
      pool: engine.host.replicated ? pool : undefined,
      host: config.host,
      model: this.model,
      transaction: (this.options.transaction ?? undefined) as ReconnectContext['transaction'],
    };
  }

  private readonly giveUp: GiveUpWith = (reason, hookError, cause) => {
    if (cause !== undefined && !(cause instanceof DeadlineError)) this.op.cause = cause;
    const config = this.failedAttempt(this.op.cause)?.config ?? this.engine.host.configOf(this.pool);
    return giveUp(this.engine, this.op, { phase: 'connect', reason, cause: this.op.cause, hookError, config });
  };

  private failedAttempt(error: unknown) {
    return typeof error === 'object' && error !== null ? this.engine.connections.failedAttempts.get(error) : undefined;
  }

  /** Was this login refused with a password that has been replaced on its config since? */
  private refusedWithReplacedPassword(error: unknown): boolean {
    const attempt = this.failedAttempt(error);
    return attempt !== undefined && attempt.password !== attempt.config.password;
  }
}
