/**
 * `npm run bench:alloc`: only the allocation measurement of `npm run bench` (about a minute).
 * `--subscribed`: with a no-op subscriber on every diagnostics_channel channel of the plugin
 * (BENCH_SUBSCRIBE=1, which `npm run bench` honours too).
 */
import { TestServer } from '../test/support/postgres';
import { allocation } from './bench/alloc';
import { buildPlugin } from './bench/built';
import { cleanup, initScratch, onCleanup } from './lib/scratch';

async function main(): Promise<void> {
  initScratch('sar-alloc');
  // The plugin as users run it (see bench/built.ts).
  buildPlugin();
  const server = await TestServer.start();
  onCleanup(() => server.destroy());
  process.env['DATABASE_URL'] = server.url;
  const quick = process.argv.includes('--quick');
  if (process.argv.includes('--subscribed')) process.env['BENCH_SUBSCRIBE'] = '1';
  const subscribed = process.env['BENCH_SUBSCRIBE'] === '1' ? ' (plugin subscribed to every channel)' : '';
  const cells = await allocation(quick, (m) => process.stderr.write(`${m}\n`));
  for (const c of cells) {
    process.stdout.write(
      `${c.workload}${subscribed}: sampled bare ${c.bare.toFixed(0)} B/op, plugin ${c.plugin.toFixed(0)}, Δ ${(c.plugin - c.bare).toFixed(0)}; ` +
        `heap growth bare ${c.bareGrowth.toFixed(0)} (${c.bareGrowthMin.toFixed(0)}–${c.bareGrowthMax.toFixed(0)}), plugin ${c.pluginGrowth.toFixed(0)} (${c.pluginGrowthMin.toFixed(0)}–${c.pluginGrowthMax.toFixed(0)}), ` +
        `Δ ${(c.pluginGrowth - c.bareGrowth).toFixed(0)}; ${c.runs} runs of ${c.ops}, ${c.discardedForGc} GCs discarded\n`,
    );
  }
  await cleanup();
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await cleanup();
    process.exit(1);
  },
);
