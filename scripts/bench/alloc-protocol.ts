/** Messages between alloc.ts and its child processes. */

export interface AllocRequest {
  type: 'run';
  workload: 'SELECT 1' | 'findOne';
  /** Operations run first, unmeasured: JIT, pool, caches. */
  warmup: number;
  /** Operations per measured run. */
  ops: number;
  repeats: number;
}

export interface AllocReply {
  /** Bytes per operation by V8's sampling heap profiler, one per run. */
  sampled: number[];
  /** Bytes per operation by the heap's growth, one per run without a GC. */
  growth: number[];
  /** GCs seen in growth runs that were then discarded. */
  gcs: number;
}
