/** Messages between hot-path.ts and its child processes. */

export type HotWorkload = 'SELECT 1' | 'findOne' | 'create';

export interface RunRequest {
  type: 'run';
  workload: HotWorkload;
  concurrency: number;
  ms: number;
  /** Sample the CPU meanwhile and report the self time of the plugin's own code. */
  profile?: boolean;
}

export interface RunReply {
  ops: number;
  failures: number;
  elapsedMs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  heapBytes: number;
  errors: string[];
  /** With `profile`: sampled self time in the plugin's source files, and in everything, µs. */
  pluginSelfUs?: number;
  profiledUs?: number;
}

/** Rows in `items` for findOne to pick from. */
export const ROWS = 1000;
