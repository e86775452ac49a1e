/**
 * One variant of the hot-path benchmark in a process of its own, so that bare Sequelize and
 * the plugin never share JIT state (inline caches that saw both would slow both). The parent
 * tells it when to run; runs of the two variants alternate, adjacent in time.
 */
import { Session, type Profiler } from 'node:inspector';
import { QueryTypes } from 'sequelize';
import { builtPlugin, BUILT_PREFIX } from './built';
import { testSequelize, uniqueAppName } from '../../test/support/db';
import { defineItem } from '../../test/support/fixture';
import { measureAllocation } from './heap';
import { ROWS, type HotWorkload, type RunReply, type RunRequest } from './hot-path-protocol';
import { subscribeIfAsked } from './subscribe';
import { runFor } from './workers';

// Async so that a throw while setting up becomes the rejection handled below.
// eslint-disable-next-line @typescript-eslint/require-await
async function main(): Promise<void> {
  const url = process.env['BENCH_URL'];
  const variant = process.env['BENCH_VARIANT'];
  if (!url || (variant !== 'bare' && variant !== 'plugin') || !process.send) throw new Error('hot-path-child: run by hot-path.ts only');
  subscribeIfAsked();
  const sequelize = testSequelize(url, {
    appName: uniqueAppName(`hot_${variant}`),
    plugin: variant === 'plugin' ? {} : false,
    factory: builtPlugin(),
    pool: { max: 16, min: 0 },
  });
  const Item = defineItem(sequelize);
  const ops: Record<HotWorkload, (worker: number, n: number) => Promise<unknown>> = {
    'SELECT 1': () => sequelize.query('SELECT 1', { type: QueryTypes.SELECT }),
    findOne: (w, n) => Item.findOne({ where: { id: 1 + ((w * 7919 + n) % ROWS) } }),
    create: (w, n) => Item.create({ tag: `hot-${variant}-${w}-${n}` }),
  };
  process.on('message', (message: RunRequest | { type: 'close' }) => {
    if (message.type === 'close') {
      void sequelize.close().finally(() => process.exit(0));
      return;
    }
    void (async () => {
      if (message.profile) {
        const { result, profile } = await profiled(() => runFor(message.ms, message.concurrency, ops[message.workload]));
        process.send!({ ...result, cpuUserUs: 0, cpuSystemUs: 0, heapBytes: 0, ...selfTimes(profile) } satisfies RunReply);
        return;
      }
      const cpuBefore = process.cpuUsage();
      const { result, bytes } = await measureAllocation(() => runFor(message.ms, message.concurrency, ops[message.workload]));
      const cpu = process.cpuUsage(cpuBefore);
      const reply: RunReply = { ...result, cpuUserUs: cpu.user, cpuSystemUs: cpu.system, heapBytes: bytes };
      process.send!(reply);
    })();
  });
  process.send({ ready: true });
}

/** Runs `fn` under V8's sampling profiler (100 µs interval). */
async function profiled<T>(fn: () => Promise<T>): Promise<{ result: T; profile: Profiler.Profile }> {
  const session = new Session();
  session.connect();
  const post = <R>(method: string, params: object = {}): Promise<R> =>
    new Promise((resolve, reject) => session.post(method, params, (error, reply) => (error ? reject(error) : resolve(reply as R))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 100 });
  await post('Profiler.start');
  const result = await fn();
  const { profile } = await post<{ profile: Profiler.Profile }>('Profiler.stop');
  session.disconnect();
  return { result, profile };
}

/** Self time of the nodes whose code lives in the built plugin (dist/), and of all but idle. */
function selfTimes(profile: Profiler.Profile): { pluginSelfUs: number; profiledUs: number } {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  let pluginSelfUs = 0;
  let profiledUs = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const frame = nodes.get(samples[i]!)?.callFrame;
    const dt = deltas[i] ?? 0;
    if (!frame || frame.functionName === '(idle)') continue;
    profiledUs += dt;
    if (frame.url.startsWith(BUILT_PREFIX)) pluginSelfUs += dt;
  }
  return { pluginSelfUs, profiledUs };
}

main().catch((error: unknown) => {
  process.stderr.write(`hot-path-child: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
