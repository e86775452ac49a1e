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
    let expired = false;
    const cancel = clock.setTimer(
      () => {
        expired = true;
        reject(onTimeout());
      },
      Math.max(0, ms),
    );
    promise.then(
      (value) => {
        if (expired) {
          // No one handles this reaction's promise: a throw here would be an unhandled rejection.
          try {
            late(value);
          } catch {
            // The value came too late for anyone; there is no caller left to tell.
          }
          return;
        }
        cancel();
        resolve(value);
      },
      (error: unknown) => {
        if (expired) return;
        cancel();
        reject(error);
      },
    );
  });
}

/**
 * The operations of one instance that are backing off. When one of them (or any other caller)
 * gets a connection, the server is reachable again: the others are woken at once instead of
 * each sleeping out its jittered delay, which after a few retries is up to `backoff.maxMs`.
 * The pool still bounds how many then connect at once. `close()` wakes them too.
 */
export class Backoffs {
  private waiting = 0;
  private wake: (() => void) | undefined;
  private woken: Promise<void> | undefined;

  constructor(private readonly clock: Clock) {}

  /** Is any operation sleeping? Cheap enough for the hot path. */
  get anyone(): boolean {
    return this.waiting > 0;
  }

  /** Waits `ms` (0: only lets I/O be seen), or less if `wakeAll()` is called meanwhile. */
  async sleep(ms: number): Promise<void> {
    if (ms <= 0) {
      await this.clock.yieldToIO();
      return;
    }
    this.woken ??= new Promise<void>((resolve) => (this.wake = resolve));
    let cancel: (() => void) | undefined;
    this.waiting++;
    try {
      await Promise.race([new Promise<void>((resolve) => (cancel = this.clock.setTimer(resolve, ms))), this.woken]);
    } finally {
      this.waiting--;
      cancel?.();
    }
  }

  wakeAll(): void {
    const wake = this.wake;
    this.wake = undefined;
    this.woken = undefined;
    wake?.();
  }
}
