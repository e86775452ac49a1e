import type { GiveUpReason } from '../core/decide';
import { asError } from '../core/failure';
import { ConnectionLostError, connectFailure, explain } from '../errors';
import type { ReconnectConfig } from '../hooks';
import { listening, publish } from './events';
import { explainExhausted, poolBusy } from './exhausted';
import type { Operation } from './operation';
import { noteFailedIn, type Engine } from './state';

export interface GiveUp {
  readonly phase: 'connect' | 'query';
  readonly reason: GiveUpReason;
  /** The last real failure (never a deadline of ours). */
  readonly cause: unknown;
  readonly sql?: string | undefined;
  /** Default: whether any attempt of the operation may have reached the server. */
  readonly mayHaveExecuted?: boolean;
  readonly transactionLost?: boolean;
  /** The transaction it was lost in: only its own managed transaction replays it. */
  readonly transaction?: object | undefined;
  /** Default: `false` when nothing may have run, else unknown. */
  readonly committed?: boolean;
  readonly hookError?: unknown;
  /** The settings of the host concerned, for events (default: the write pool's). */
  readonly config?: ReconnectConfig | undefined;
}

/**
 * The one way an operation ends in failure: a `ConnectionLostError` over its last real failure
 * (never the driver's raw error), of the class Sequelize would have thrown where it threw one;
 * kept on the operation, so that Sequelize's own retry gets it at once. The one exception: a
 * connect phase that ends on a full pool (`ConnectionAcquireTimeoutError`) lost no connection,
 * and the caller gets Sequelize's error unchanged (a statement being recovered reports its own
 * lost connection instead, see statement.ts).
 */
export function giveUp(engine: Engine, op: Operation, g: GiveUp): Error {
  if (op.final instanceof ConnectionLostError && op.final.phase === g.phase) return noteFailedIn(engine, op.final, g.transaction);
  if (g.phase === 'connect' && poolBusy(engine, g.cause)) {
    engine.host.debug("the pool stayed full until its acquire timeout: passing Sequelize's error on");
    return explainExhausted(engine, asError(g.cause));
  }
  // The connect phase of a statement being recovered leaves the counting to the statement.
  if (g.phase === 'query' || !op.recovering) engine.stats.note(op.retriesMade > 0 ? 'retriesFailed' : 'notRetried');
  const details = { attempts: op.retriesMade + 1, reason: g.reason, hookError: g.hookError };
  const final =
    g.phase === 'connect'
      ? connectFailure(explainExhausted(engine, asError(g.cause)), details, engine.redact)
      : new ConnectionLostError(
          asError(g.cause),
          {
            ...details,
            phase: 'query',
            mayHaveExecuted: g.mayHaveExecuted ?? op.mayHaveRun,
            committed: g.committed,
            transactionLost: g.transactionLost ?? false,
            sql: g.sql,
          },
          engine.redact,
        );
  if (g.phase === 'connect') {
    const tries = final.attempts === 1 ? '1 attempt' : `${final.attempts} attempts`;
    engine.host.debug(`giving up: could not connect after ${tries}: ${final.message}; ${explain(g.reason)}`);
  } else {
    engine.host.debug(`giving up: ${final.message}`);
  }
  op.final = final;
  if (listening('giveUp')) {
    const { reason, mayHaveExecuted, committed, attempts } = final;
    const elapsedMs = op.firstFailureAt === 0 ? 0 : engine.clock.now() - op.firstFailureAt;
    publish(engine, 'giveUp', { reason, mayHaveExecuted, committed, attempts, elapsedMs }, g.config);
  }
  return noteFailedIn(engine, final, g.transaction);
}
