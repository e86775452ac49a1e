import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/**
 * Lets the event loop poll for I/O once before going on, without the millisecond or more that
 * even `sleep(0)` (a timer) costs. Two turns: a single setImmediate can run in the same loop
 * iteration, before the next poll for I/O; the second one runs after it.
 */
export async function yieldToIo(): Promise<void> {
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
    const timer = setTimeout(() => {
      expired = true;
      reject(onTimeout());
    }, Math.max(0, ms));
    promise.then(
      (value) => {
        if (expired) return late(value);
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
