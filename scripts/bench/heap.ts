/**
 * Bytes allocated on the V8 heap while a piece of code runs.
 *
 * Node 20 has no cumulative allocation counter, and heapUsed deltas lose whatever a GC frees
 * in between. So: force a full GC first (no older garbage left for a later GC to free), record
 * every GC in the window with v8.GCProfiler (heap used before and after each), and count
 *   allocated = (used at end − used at start) + Σ (used before GC − used after GC).
 * Every byte allocated in the window is either still on the heap at the end or was freed by
 * one of those GCs. Off-heap memory (Buffers' backing stores, sockets) is not included.
 * `selfCheck` proves the arithmetic against allocations of known size.
 */
import { GCProfiler, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export interface Allocation<T> {
  result: T;
  bytes: number;
  gcs: number;
}

export async function measureAllocation<T>(fn: () => Promise<T>): Promise<Allocation<T>> {
  gc();
  const profiler = new GCProfiler();
  profiler.start();
  const start = getHeapStatistics().used_heap_size;
  const result = await fn();
  const end = getHeapStatistics().used_heap_size;
  const { statistics } = profiler.stop();
  let freed = 0;
  for (const s of statistics) freed += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize;
  return { result, bytes: end - start + freed, gcs: statistics.length };
}

/**
 * Allocates 256 strings of 256 KiB each (Buffer → latin1 makes a flat heap string; below
 * Node's 1 MB threshold for external strings) and measures them: the ratio should be ~1.00.
 */
export async function selfCheck(): Promise<{ expected: number; measured: number }> {
  const count = 256;
  const size = 256 * 1024;
  const source = Buffer.alloc(size, 0x61);
  let keep = '';
  const { bytes } = await measureAllocation(async () => {
    for (let i = 0; i < count; i++) {
      keep = source.toString('latin1');
      await Promise.resolve();
    }
    return keep.length;
  });
  return { expected: count * size, measured: bytes };
}
