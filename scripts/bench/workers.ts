/** Driving load: a pool of workers looping on an operation, timed. */

export interface LoadResult {
  ops: number;
  failures: number;
  elapsedMs: number;
  errors: string[];
}

/** `concurrency` workers each run `op` back to back until `ms` have passed. */
export async function runFor(ms: number, concurrency: number, op: (worker: number, n: number) => Promise<unknown>): Promise<LoadResult> {
  const started = performance.now();
  const deadline = started + ms;
  let ops = 0;
  let failures = 0;
  const errors: string[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let n = 0; performance.now() < deadline; n++) {
        try {
          await op(worker, n);
          ops++;
        } catch (error) {
          failures++;
          if (errors.length < 5) errors.push(error instanceof Error ? error.message : String(error));
        }
      }
    }),
  );
  return { ops, failures, elapsedMs: performance.now() - started, errors };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
