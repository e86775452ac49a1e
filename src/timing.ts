import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';

/**
 * Waits `ms`; for 0, only lets the event loop poll for I/O once (connections that died with
 * the one just lost report their close and leave the pool before a replacement is picked),
 * without the millisecond or more that even a zero timer costs. Two turns: one setImmediate
 * can run in the same loop iteration, before the next poll for I/O; the second runs after it.
 */
export async function pause(ms: number): Promise<void> {
  if (ms > 0) {
    await sleep(ms);
    return;
  }
  await immediate();
  await immediate();
}

/** Raised when the retry deadline passes while waiting for a connection. */
export class DeadlineError extends Error {
  constructor(deadlineMs: number) {
    super(`no connection within the retry deadline of ${deadlineMs} ms`);
    this.name = 'DeadlineError';
  }
}

/**
 * Settles with `promise`, or rejects with `onTimeout()` after `ms`. A value that arrives too late
 * goes to `late` (a connection must go back to the pool, not leak).
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error, late: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(
      () => {
        expired = true;
        reject(onTimeout());
      },
      Math.max(0, ms),
    );
    promise.then(
      (value) => {
        if (expired) {
          late(value);
          return;
        }
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (expired) return;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
