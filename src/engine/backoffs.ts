import type { Clock } from './port';

/**
 * The operations of one instance that are backing off. When one of them (or any other caller)
 * gets a connection, the server is reachable again: the others are woken at once instead of
 * each sleeping out its jittered delay, which after a few retries is up to `backoff.maxMs`.
 * The pool still bounds how many then connect at once. `close()` wakes them too.
 */
export class Backoffs {
  /** How many operations sleep now (written here only). Read on every checkout: a field, not a call. */
  sleeping = 0;
  private wake: (() => void) | undefined;
  private woken: Promise<void> | undefined;

  constructor(private readonly clock: Clock) {}

  /** Waits `ms` (0: only lets I/O be seen), or less if `wakeAll()` is called meanwhile. */
  async sleep(ms: number): Promise<void> {
    if (ms <= 0) {
      await this.clock.yieldToIO();
      return;
    }
    this.woken ??= new Promise<void>((resolve) => (this.wake = resolve));
    let cancel: (() => void) | undefined;
    this.sleeping++;
    try {
      await Promise.race([new Promise<void>((resolve) => (cancel = this.clock.setTimer(resolve, ms))), this.woken]);
    } finally {
      this.sleeping--;
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
