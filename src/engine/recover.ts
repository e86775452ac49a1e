import { backoffDelay } from '../core/backoff';
import type { GiveUpReason, Step } from '../core/decide';
import type { ReconnectFailure } from '../core/failure';
import type { ReconnectContext } from '../hooks';
import { runHook } from './run-hook';
import { remainingMs, type Operation } from './operation';
import type { Connection } from './port';
import { asError, type Engine } from './state';

export type Outcome<T> = { readonly done: true; readonly value: T } | { readonly done: false; readonly error: unknown };

/** What differs between recovering a connection (`'connect'`), a statement (`'query'`) and a managed transaction (`'transaction'`). */
export interface Phase<T> {
  readonly name: 'connect' | 'query' | 'transaction';
  readonly op: Operation;
  readonly retries: number;
  readonly deadlineMs: number;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  /** Whether a retry that finds the server up replaces the connection at once (a stale connection). */
  readonly immediateFirst: boolean;
  /** Classifies the failure and decides (core), noting what it says (stats, pool marks). */
  assess(error: unknown): { readonly step: Step; readonly failure: ReconnectFailure };
  /** `retry-now`: one more attempt at once, outside the budget. */
  retryNow(): Promise<T>;
  context(error: unknown, failure: ReconnectFailure): ReconnectContext;
  /** A new connection for the next attempt. */
  reconnect(): Promise<Connection>;
  /** The failure to go on with after `reconnect` failed; or throws the give-up. */
  reconnectFailed(reconnectError: unknown): unknown;
  /** Puts the new connection in place of the lost one. */
  install(connection: Connection): void;
  /** The `afterReconnect` hook threw: the new connection is not used. */
  abandon(connection: Connection): void;
  /** Uses the new connection: a value, or a failure to recover from in turn. */
  finish(connection: Connection): Promise<Outcome<T>>;
  /** The give-up error; `cause`, when given, replaces the failure it reports. */
  giveUp(reason: GiveUpReason, hookError?: unknown, cause?: unknown): Error;
}

/**
 * The one recovery loop of both phases: decide, and then either give up, or count a retry, run
 * `beforeReconnect`, back off, get a new connection, run `afterReconnect` and use it. A
 * statement's new connection comes from the connect phase, which may run this loop in turn.
 */
export async function recover<T>(engine: Engine, phase: Phase<T>, firstError: unknown): Promise<T> {
  const { op } = phase;
  let error = firstError;
  for (;;) {
    const { step, failure } = phase.assess(error);
    if (step.action === 'give-up') throw phase.giveUp(step.reason);
    if (step.action === 'retry-now') {
      try {
        return await phase.retryNow();
      } catch (retryError) {
        error = retryError;
        continue;
      }
    }
    op.retriesMade++;
    engine.stats.note('retries');
    const context = phase.context(error, failure);
    engine.host.debug(
      `${phase.name === 'connect' ? `connect failed (${failure})` : `connection lost under a ${phase.name === 'query' ? 'statement' : 'transaction'}`}: ` +
        `${engine.redact(context.error.message)}; retry ${op.retriesMade} of ${phase.retries}`,
    );
    await runHook(engine, 'beforeReconnect', context, (hookError) => phase.giveUp('hook-failed', hookError));
    const left = Math.max(0, remainingMs(op, phase.deadlineMs, engine.clock.now()));
    await engine.backoffs.sleep(
      Math.min(
        backoffDelay(op.retriesMade, phase.backoff, phase.immediateFirst, () => engine.clock.random()),
        left,
      ),
    );
    // close() may have come during the wait; a statement's new connection finds out by itself.
    if (engine.closed && phase.name === 'connect') throw phase.giveUp('closed');

    let connection: Connection;
    try {
      connection = await phase.reconnect();
    } catch (reconnectError) {
      engine.stats.note('reconnectFailures');
      await runHook(engine, 'afterReconnect', { ...context, reconnected: false, reconnectError: asError(reconnectError) }, (hookError) =>
        phase.giveUp('hook-failed', hookError, reconnectError),
      );
      error = phase.reconnectFailed(reconnectError);
      continue;
    }
    engine.stats.note('reconnects');
    phase.install(connection);
    await runHook(engine, 'afterReconnect', { ...context, reconnected: true }, (hookError) => {
      phase.abandon(connection);
      return phase.giveUp('hook-failed', hookError);
    });
    const outcome = await phase.finish(connection);
    if (outcome.done) return outcome.value;
    error = outcome.error;
  }
}
