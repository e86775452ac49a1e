/**
 * One variant of the instruction count, run by instructions.ts under callgrind (instrumentation
 * off until the parent turns it on) with `node --single-threaded --expose-gc`. Commands on stdin,
 * one a line: `gc` (empties the young generation), `run <workload> <n>` (n sequential operations), `quit`; each is answered
 * with a line of JSON on stdout once done, so the parent can zero and read the counters between.
 */
import { createInterface } from 'node:readline';
import { QueryTypes } from 'sequelize';
import type { AutoReconnectOptions } from '../../src';
import { testSequelize, uniqueAppName } from '../../test/support/db';
import { defineItem } from '../../test/support/items';
import { builtPlugin } from './built';
import { ROWS } from './hot-path-protocol';
import { subscribeIfAsked } from './subscribe';

const gc = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc;

function main(): void {
  const url = process.env['BENCH_URL'];
  const variant = process.env['BENCH_VARIANT'];
  if (!url || (variant !== 'bare' && variant !== 'plugin') || !gc) throw new Error('instructions-child: run by instructions.ts only');
  subscribeIfAsked();
  // BENCH_PLUGIN_OPTIONS (JSON): the plugin's options, to count a setting other than the defaults (`{"silenceMs":false}`).
  // Idle validation after a minute, not the default 500 ms: the parent's callgrind_control calls
  // between two counted loops take longer than that, so the first statement of a loop would
  // check its connection with a round trip (seen: one validation a loop, and runs with more),
  // which is the hygiene path, not the success path counted here. The code run is the same.
  const options = { validateIdleMs: 60_000, ...(JSON.parse(process.env['BENCH_PLUGIN_OPTIONS'] ?? '{}') as AutoReconnectOptions) };
  const sequelize = testSequelize(url, {
    appName: uniqueAppName(`instr_${variant}`),
    plugin: variant === 'plugin' ? options : false,
    factory: builtPlugin(),
  });
  const Item = defineItem(sequelize);
  const ops: Record<string, (i: number) => Promise<unknown>> = {
    'SELECT 1': () => sequelize.query('SELECT 1', { type: QueryTypes.SELECT }),
    findOne: (i) => Item.findOne({ where: { id: 1 + (i % ROWS) } }),
  };
  const reply = (message: object): boolean => process.stdout.write(`${JSON.stringify(message)}\n`);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    void (async () => {
      const [command = '', ...rest] = line.split(' ');
      if (command === 'quit') {
        lines.close();
        await sequelize.close();
        return;
      }
      // A scavenge only: a full GC would age and flush compiled code, to be compiled again while counted.
      if (command === 'gc') return reply((gc({ type: 'minor' }), {}));
      const n = Number(rest.pop());
      const op = ops[rest.join(' ')];
      if (command !== 'run' || !op || !(n > 0)) return reply({ error: `unknown command: ${line}` });
      let failures = 0;
      for (let i = 0; i < n; i++) await op(i).catch(() => failures++);
      return reply({ failures });
    })();
  });
  reply({ ready: true });
}

try {
  main();
} catch (error) {
  process.stderr.write(`instructions-child: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
