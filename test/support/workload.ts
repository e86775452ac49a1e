export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface WorkerResults {
  /** Operations that succeeded. */
  ok: number;
  /** Operations that failed, in order. */
  errors: Error[];
}

/**
 * `count` workers each running `op` back to back (with `pauseMs` between) until `stop()` is
 * called; resolves with what they saw. For "under load" scenarios.
 */
export function startWorkers(count: number, op: (worker: number, n: number) => Promise<unknown>, pauseMs = 5) {
  let stopped = false;
  const results: WorkerResults = { ok: 0, errors: [] };
  const workers = Array.from({ length: count }, async (_, worker) => {
    for (let n = 0; !stopped; n++) {
      try {
        await op(worker, n);
        results.ok++;
      } catch (error) {
        results.errors.push(error as Error);
      }
      await sleep(pauseMs);
    }
  });
  return {
    results,
    /** Stops the loops and waits for the operations in flight. */
    async stop(): Promise<WorkerResults> {
      stopped = true;
      await Promise.all(workers);
      return results;
    },
  };
}

/** `name: message` of each error, for assertion messages. */
export function describeErrors(errors: Error[]): string[] {
  return errors.map((e) => `${e.name}: ${e.message}`);
}
