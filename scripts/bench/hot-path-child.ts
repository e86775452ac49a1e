/**
 * One variant of the hot-path benchmark in a process of its own, so that bare Sequelize and
 * the plugin never share JIT state (inline caches that saw both would slow both). The parent
 * tells it when to run; runs of the two variants alternate, adjacent in time.
 */
import { QueryTypes } from 'sequelize';
import { testSequelize, uniqueAppName } from '../../test/support/db';
import { defineItem } from '../../test/support/fixture';
import { measureAllocation } from './heap';
import { ROWS, type HotWorkload, type RunReply, type RunRequest } from './hot-path-protocol';
import { runFor } from './workers';

async function main(): Promise<void> {
  const url = process.env['BENCH_URL'];
  const variant = process.env['BENCH_VARIANT'];
  if (!url || (variant !== 'bare' && variant !== 'plugin') || !process.send) throw new Error('hot-path-child: run by hot-path.ts only');
  const sequelize = testSequelize(url, { appName: uniqueAppName(`hot_${variant}`), plugin: variant === 'plugin' ? {} : false, pool: { max: 16, min: 0 } });
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
      const cpuBefore = process.cpuUsage();
      const { result, bytes } = await measureAllocation(() => runFor(message.ms, message.concurrency, ops[message.workload]));
      const cpu = process.cpuUsage(cpuBefore);
      const reply: RunReply = { ...result, cpuUserUs: cpu.user, cpuSystemUs: cpu.system, heapBytes: bytes };
      process.send!(reply);
    })();
  });
  process.send({ ready: true });
}

main().catch((error: unknown) => {
  process.stderr.write(`hot-path-child: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
