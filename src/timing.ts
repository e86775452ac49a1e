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

/**
 * The operations of one instance that are backing off because no connection could be opened.
 * When one of them (or any other caller) opens a connection, the server is reachable again:
 * the others are woken at once instead of each sleeping out its jittered delay, which after a
 * few retries is up to `backoff.maxMs`. The pool still bounds how many then connect at once.
 */
export class Backoffs {
  private waiting = 0;
  private wake: (() => void) | undefined;
  private woken: Promise<void> | undefined;

  /** Is any operation sleeping? Cheap enough for the hot path. */
  get anyone(): boolean {
    return this.waiting > 0;
  }

  /** Sleeps `ms`, or less if `wakeAll()` is called meanwhile. */
  async sleep(ms: number): Promise<void> {
    this.woken ??= new Promise<void>((resolve) => (this.wake = resolve));
    const timer = new AbortController();
    this.waiting++;
    try {
      await Promise.race([sleep(ms, undefined, { signal: timer.signal }).catch(() => {}), this.woken]);
    } finally {
      this.waiting--;
      timer.abort();
    }
  }

  wakeAll(): void {
    const wake = this.wake;
    this.wake = undefined;
    this.woken = undefined;
    wake?.();
  }
}
