/**
 * One variant of the allocation measurement, in a process of its own. Two measures of the bytes
 * one successful operation allocates on the V8 heap:
 * - sampled: V8's sampling heap profiler, every 32 bytes on average, counting objects already
 *   collected too; precise to a few bytes per operation over thousands of operations;
 * - heap growth: with a young generation large enough (see alloc.ts) that no GC runs in the
 *   measured loop, the heap's growth over N sequential operations (a run with a GC in it is
 *   discarded). Exact, but it varies from run to run with what the JIT and the event loop do.
 */
import { Session } from 'node:inspector';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { QueryTypes } from 'sequelize';
import type { AutoReconnectOptions } from '../../src';
import { builtPlugin } from './built';
import { testSequelize, uniqueAppName } from '../../test/support/db';
import { defineItem } from '../../test/support/items';
import { ROWS } from './hot-path-protocol';
import { subscribeIfAsked } from './subscribe';
import type { AllocReply, AllocRequest } from './alloc-protocol';

const gc = (globalThis as { gc?: () => void }).gc;

// Async so that a throw while setting up becomes the rejection handled below.
// eslint-disable-next-line @typescript-eslint/require-await
async function main(): Promise<void> {
  const url = process.env['BENCH_URL'];
  const variant = process.env['BENCH_VARIANT'];
  if (!url || (variant !== 'bare' && variant !== 'plugin') || !process.send || !gc) {
    throw new Error('alloc-child: run by alloc.ts only (with --expose-gc)');
  }
  // BENCH_PLUGIN_OPTIONS (JSON): the plugin's options, to measure a setting other than the defaults (`{"silenceMs":false}`).
  const options = JSON.parse(process.env['BENCH_PLUGIN_OPTIONS'] ?? '{}') as AutoReconnectOptions;
  subscribeIfAsked();
  const sequelize = testSequelize(url, {
    appName: uniqueAppName(`alloc_${variant}`),
    plugin: variant === 'plugin' ? options : false,
    factory: builtPlugin(),
  });
  const Item = defineItem(sequelize);
  const ops: Record<AllocRequest['workload'], (n: number) => Promise<unknown>> = {
    'SELECT 1': () => sequelize.query('SELECT 1', { type: QueryTypes.SELECT }),
    findOne: (n) => Item.findOne({ where: { id: 1 + (n % ROWS) } }),
  };
  process.on('message', (request: AllocRequest | { type: 'close' }) => {
    if (request.type === 'close') {
      void sequelize.close().finally(() => process.exit(0));
      return;
    }
    void measure(ops[request.workload], request).then((reply) => process.send!(reply));
  });
  process.send({ ready: true });
}

async function measure(op: (n: number) => Promise<unknown>, { warmup, ops, repeats }: AllocRequest): Promise<AllocReply> {
  for (let n = 0; n < warmup; n++) await op(n);
  const reply: AllocReply = { sampled: [], growth: [], gcs: 0 };
  for (let r = 0; r < repeats; r++) {
    reply.sampled.push(await sampled(op, ops));
    const { bytes, gcs } = await growth(op, ops);
    if (gcs > 0) reply.gcs += gcs;
    else reply.growth.push(bytes / ops);
  }
  return reply;
}

async function growth(op: (n: number) => Promise<unknown>, ops: number): Promise<{ bytes: number; gcs: number }> {
  gc!();
  gc!();
  const profiler = new GCProfiler();
  profiler.start();
  const before = getHeapStatistics().used_heap_size;
  for (let n = 0; n < ops; n++) await op(n);
  const after = getHeapStatistics().used_heap_size;
  return { bytes: after - before, gcs: profiler.stop().statistics.length };
}

interface SamplingNode {
  selfSize: number;
  children: SamplingNode[];
}

async function sampled(op: (n: number) => Promise<unknown>, ops: number): Promise<number> {
  const session = new Session();
  session.connect();
  const post = <R>(method: string, params: object = {}): Promise<R> =>
    new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result as R))));
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startSampling', {
    samplingInterval: 32,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  for (let n = 0; n < ops; n++) await op(n);
  const { profile } = await post<{ profile: { head: SamplingNode } }>('HeapProfiler.stopSampling');
  session.disconnect();
  const total = (node: SamplingNode): number => node.children.reduce((sum, child) => sum + total(child), node.selfSize);
  return total(profile.head) / ops;
}

main().catch((error: unknown) => {
  process.stderr.write(`alloc-child: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
