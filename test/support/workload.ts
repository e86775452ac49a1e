import { afterEach } from 'node:test';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface WorkerResults {
  /** Operations that succeeded. */
  ok: number;
  /** Operations that failed, in order (the first 1,000: enough to describe, bounded in memory). */
  errors: Error[];
}

const MAX_KEPT_ERRORS = 1000;

export interface Workers {
  readonly results: WorkerResults;
  /** Stops the loops and waits for the operations in flight. Safe to call more than once. */
  stop(): Promise<WorkerResults>;
}

const running = new Set<Workers>();

// A test whose assertion fails before it stops its workers must not leave them running into
// the next test, or on forever: every test of a file that uses workers ends with them stopped.
// Only under the test runner (`node --test` sets NODE_TEST_CONTEXT): a hook registered starts
// node:test's harness, whose async hooks make every promise of the process about ten times
// dearer, and the benchmarks and scripts that import this must measure what applications see.
if (process.env['NODE_TEST_CONTEXT'] !== undefined) {
  afterEach(async () => {
    await Promise.all([...running].map((w) => w.stop()));
  });
}

/**
 * `count` workers each running `op` back to back (with `pauseMs` between) until `stop()` is
 * called, or `maxMs` has passed; resolves with what they saw. For "under load" scenarios.
 */
export function startWorkers(count: number, op: (worker: number, n: number) => Promise<unknown>, pauseMs = 5, maxMs = 60_000): Workers {
  let stopped = false;
  const giveUpAt = Date.now() + maxMs;
  const results: WorkerResults = { ok: 0, errors: [] };
  const loops = Array.from({ length: count }, async (_, worker) => {
    for (let n = 0; !stopped && Date.now() < giveUpAt; n++) {
      try {
        await op(worker, n);
        results.ok++;
      } catch (error) {
        if (results.errors.length < MAX_KEPT_ERRORS) results.errors.push(error as Error);
      }
      await sleep(pauseMs);
    }
  });
  const workers: Workers = {
    results,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      running.delete(workers);
      return results;
    },
  };
  running.add(workers);
  return workers;
}

/** Polls `read` until it returns true; fails after `timeoutMs`. Wait for this, not for a sleep to be long enough. */
export async function until(what: string, read: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await read())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** `name: message` of each error, for assertion messages. */
export function describeErrors(errors: Error[]): string[] {
  return errors.map((e) => `${e.name}: ${e.message}`);
}
