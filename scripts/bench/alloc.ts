/**
 * Allocation per successful operation, plugin minus bare: deterministic where throughput on a
 * shared machine is not. Each variant runs in a process of its own, sequential operations after
 * a warm-up, measured two ways (see alloc-child.ts): V8's sampling heap profiler, and the heap's
 * growth over a loop in which no GC runs (the young generation is made large enough). `npm run
 * bench` runs it in section 1; alone: `npm run bench:alloc` (starts its own PostgreSQL).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { defineItem, fixture } from '../../test/support/fixture';
import { testSequelize, uniqueAppName } from '../../test/support/db';
import { onExitSync } from '../lib/scratch';
import { median } from '../lib/stats';
import { markdownTable } from '../lib/table';
import type { AllocReply, AllocRequest } from './alloc-protocol';
import { ROWS } from './hot-path-protocol';

export interface AllocCell {
  workload: AllocRequest['workload'];
  ops: number;
  runs: number;
  /** Medians over the runs, bytes per operation: sampled by V8's heap profiler. */
  bare: number;
  plugin: number;
  /** The same by the heap's growth without GC, and each variant's spread over its runs. */
  bareGrowth: number;
  bareGrowthMin: number;
  bareGrowthMax: number;
  pluginGrowth: number;
  pluginGrowthMin: number;
  pluginGrowthMax: number;
  discardedForGc: number;
}

/** Young generation per semi-space, MB: 2,000 findOne calls allocate about 95 MB. */
const SEMI_SPACE_MB = 160;

class Child {
  private constructor(private readonly process: ChildProcess) {}

  static async start(variant: 'bare' | 'plugin', url: string): Promise<Child> {
    const child = fork(join(__dirname, 'alloc-child.ts'), [], {
      execArgv: ['--expose-gc', `--min-semi-space-size=${SEMI_SPACE_MB}`, `--max-semi-space-size=${SEMI_SPACE_MB}`, '--import', 'tsx'],
      env: { ...process.env, BENCH_URL: url, BENCH_VARIANT: variant },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    onExitSync(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`alloc child (${variant}) exited with ${code}`)));
    });
    return new Child(child);
  }

  run(request: Omit<AllocRequest, 'type'>): Promise<AllocReply> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`alloc child exited with ${code}`));
      this.process.once('exit', onExit);
      this.process.once('message', (reply: AllocReply) => {
        this.process.off('exit', onExit);
        resolve(reply);
      });
      this.process.send({ type: 'run', ...request } satisfies AllocRequest);
    });
  }

  async close(): Promise<void> {
    if (this.process.exitCode !== null) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.send({ type: 'close' });
    await exited;
  }
}

export async function allocation(quick: boolean, progress: (message: string) => void): Promise<AllocCell[]> {
  const f = await fixture();
  const seeder = testSequelize(f.url, { appName: uniqueAppName('seed'), plugin: false });
  await defineItem(seeder).bulkCreate(Array.from({ length: ROWS }, (_, i) => ({ tag: `row-${i}` })));
  await seeder.close();
  const ops = 2000;
  const repeats = quick ? 2 : 5;
  const cells: AllocCell[] = [];
  try {
    for (const workload of ['SELECT 1', 'findOne'] as const) {
      progress(`allocation: ${workload}`);
      // One variant at a time: the other's process is not even running.
      const replies = {} as Record<'bare' | 'plugin', AllocReply>;
      for (const variant of ['bare', 'plugin'] as const) {
        const child = await Child.start(variant, f.url);
        try {
          replies[variant] = await child.run({ workload, warmup: quick ? 2000 : 6000, ops, repeats });
        } finally {
          await child.close();
        }
      }
      const { bare, plugin } = replies;
      cells.push({
        workload,
        ops,
        runs: repeats,
        bare: median(bare.sampled),
        plugin: median(plugin.sampled),
        bareGrowth: median(bare.growth),
        bareGrowthMin: Math.min(...bare.growth),
        bareGrowthMax: Math.max(...bare.growth),
        pluginGrowth: median(plugin.growth),
        pluginGrowthMin: Math.min(...plugin.growth),
        pluginGrowthMax: Math.max(...plugin.growth),
        discardedForGc: bare.gcs + plugin.gcs,
      });
    }
    return cells;
  } finally {
    await f.close();
  }
}

/** The allocation goal: what the plugin adds to a successful operation, worst workload. */
export function allocationGoal(cells: readonly AllocCell[]): { what: string; target: string; measured: string; met: boolean } {
  const worst = cells.reduce((a, c) => (c.plugin - c.bare > a.plugin - a.bare ? c : a));
  return {
    what: '1. hot path: bytes allocated per successful operation, plugin − bare, worst workload',
    target: '≤ 100 B',
    measured: `+${Math.round(worst.plugin - worst.bare)} B (${worst.workload}; heap growth without GC: +${Math.round(worst.pluginGrowth - worst.bareGrowth)} B)`,
    met: worst.plugin - worst.bare <= 100,
  };
}

/** Markdown for the allocation measurement, under section 1. */
export function renderAllocation(cells: readonly AllocCell[]): string[] {
  const int = (x: number): string => Math.round(x).toLocaleString('en-US');
  const delta = (x: number): string => `${x >= 0 ? '+' : ''}${int(x)}`;
  return [
    '',
    `Allocation per successful operation, deterministic where throughput is not: ${cells[0]?.ops ?? 0} sequential operations after a warm-up, ` +
      `${cells[0]?.runs ?? 0} runs per variant, each variant in a process of its own. Sampled: V8's sampling heap profiler (every 32 bytes, ` +
      'collected objects included). Heap growth: the heap grown over the loop with no GC in it (young generation enlarged; runs with a GC discarded), ' +
      "with each variant's spread over its runs: differences within it are more than this measure resolves.",
    '',
    markdownTable(
      ['workload', 'sampled B/op bare', 'plugin', 'Δ', 'heap growth B/op bare', 'plugin', 'Δ'],
      cells.map((c) => [
        c.workload,
        int(c.bare),
        int(c.plugin),
        delta(c.plugin - c.bare),
        `${int(c.bareGrowth)} (${int(c.bareGrowthMin)}–${int(c.bareGrowthMax)})`,
        `${int(c.pluginGrowth)} (${int(c.pluginGrowthMin)}–${int(c.pluginGrowthMax)})`,
        delta(c.pluginGrowth - c.bareGrowth),
      ]),
    ),
  ];
}
