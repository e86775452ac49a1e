import { setImmediate as immediate } from 'node:timers/promises';
import type { Clock } from './port';

/** The real clock: wall time, Math.random, Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  random: () => Math.random(),
  setTimer: (fn, ms, background) => {
    const timer = setTimeout(() => {
      // A throw in a timer is an uncaught exception: the application's process would end.
      try {
        fn();
      } catch {
        // The timers' work (a deadline's rejection, closing a connection) has no caller to tell.
      }
    }, ms);
    if (background) timer.unref();
    return () => clearTimeout(timer);
  },
  /**
   * Lets the event loop poll for I/O once (connections that died with the one just lost report
   * their close and leave the pool before a replacement is picked), without the millisecond or
   * more that even a zero timer costs. Two turns: one setImmediate can run in the same loop
   * iteration, before the next poll for I/O; the second runs after it.
   */
  yieldToIO: async () => {
    await immediate();
    await immediate();
  },
};

/** Raised when the retry deadline passes while waiting for a connection. */
export class DeadlineError extends Error {
  constructor(deadlineMs: number) {
    super(`no connection within the retry deadline of ${deadlineMs} ms`);
    this.name = 'DeadlineError';
  }
}

/**
 * A connection attempt that got no answer within its bound and was abandoned (its socket
 * destroyed). Shaped as the drivers' own connect timeouts are (`ETIMEDOUT`, SQLSTATE class 08),
 * so that every dialect's classifier takes it for a transient connect failure.
 */
export class ConnectTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  readonly sqlState = '08001';
  constructor(
    ms: number,
    /** Clock time the attempt started: its operation has been failing since then. */
    readonly startedAt: number,
  ) {
    super(`sequelize-autoreconnect: no answer to a connection attempt within ${ms} ms; abandoned`);
    this.name = 'ConnectTimeoutError';
  }
}

/**
 * Settles with `promise`, or rejects with `onTimeout()` after `ms`. A value that arrives too late
 * goes to `late` (a connection must go back to the pool, not leak).
 */
export function withDeadline<T>(
  clock: Clock,
  promise: Promise<T>,
  ms: number,
  onTimeout: () => Error,
  late: (value: T) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let expired = false as boolean; // set by the timer, read after an await
    const cancel = clock.setTimer(
      () => {
        expired = true;
        reject(onTimeout());
      },
      Math.max(0, ms),
    );
    // One flow for both outcomes; a throw in it would be an unhandled rejection, so none escapes.
    void (async () => {
      let value: T;
      try {
        value = await promise;
      } catch (error) {
        if (expired) return;
        cancel();
        reject(error);
        return;
      }
      if (!expired) {
        cancel();
        resolve(value);
        return;
      }
      try {
        late(value);
      } catch {
        // The value came too late for anyone; there is no caller left to tell.
      }
    })();
  });
}
