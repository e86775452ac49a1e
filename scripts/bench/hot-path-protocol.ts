/** Messages between hot-path.ts and its child processes. */

export type HotWorkload = 'SELECT 1' | 'findOne' | 'create';

export interface RunRequest {
  type: 'run';
  workload: HotWorkload;
  concurrency: number;
  ms: number;
}

export interface RunReply {
  ops: number;
  failures: number;
  elapsedMs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  heapBytes: number;
  errors: string[];
}

/** Rows in `items` for findOne to pick from. */
export const ROWS = 1000;
