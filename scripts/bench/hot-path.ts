/**
 * 1. Hot-path overhead: the plugin's cost when nothing goes wrong.
 *
 * Bare Sequelize, the plugin, and a second bare Sequelize (an A/A control) each run in a child
 * process of their own (no shared JIT state), against the same database, one short run each per
 * round, in an order that cycles through all six permutations, so that the runs of a round are
 * adjacent in time and a neighbour's burst of load on a shared machine hits all of them. Each
 * round gives a throughput ratio; the median over the rounds is the result. The control's ratio
 * to bare (ideally 1.000) shows how finely this machine can resolve a difference at all.
 * User CPU time per query of each child is reported beside throughput.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { defineItem, fixture } from '../../test/support/fixture';
import { testSequelize, uniqueAppName } from '../../test/support/db';
import { onExitSync } from '../lib/scratch';
import { allocation, type AllocCell } from './alloc';
import { instructions, type InstructionResult } from './instructions';
import { median } from '../lib/stats';
import { ROWS, type HotWorkload, type RunReply, type RunRequest } from './hot-path-protocol';
import type { SectionSettings } from './types';

export type { HotWorkload };

export interface HotPathCell {
  workload: HotWorkload;
  concurrency: number;
  rounds: number;
  /** Medians over the rounds. */
  bareOpsPerSec: number;
  pluginOpsPerSec: number;
  /** Median of the per-round throughput ratios plugin / bare, and their spread (quartiles). */
  ratio: number;
  ratioQ1: number;
  ratioQ3: number;
  /** The same for the A/A control: a second bare Sequelize / bare. */
  controlRatio: number;
  controlRatioQ1: number;
  controlRatioQ3: number;
  bareHeapBytesPerQuery: number;
  pluginHeapBytesPerQuery: number;
  /** User CPU time of the process per query, median over the rounds. */
  bareCpuUsPerQuery: number;
  pluginCpuUsPerQuery: number;
  /**
   * Sampled CPU self time of the plugin's own functions per query, in the plugin's process, and
   * the same for the bare process (should be 0: a check on the sampling). Indirect costs (the
   * promises it adds, collected by the GC) are not in it; the heap column counts those bytes.
   */
  pluginSelfUsPerQuery: number;
  bareSelfUsPerQuery: number;
  /** All sampled non-idle CPU per query in the plugin's process during that run. */
  profiledUsPerQuery: number;
}

export interface HotPathResult {
  runMs: number;
  cells: HotPathCell[];
  /** Bytes per successful operation, by sampling and by heap growth without GC (alloc.ts). */
  allocation: AllocCell[];
  /** Instructions per successful operation, by callgrind (instructions.ts). */
  instructions?: InstructionResult;
}

const WORKLOADS: readonly HotWorkload[] = ['SELECT 1', 'findOne', 'create'];
const CONCURRENCY = [1, 16] as const;

type Variant = 'bare' | 'plugin' | 'control';

class Child {
  private constructor(
    readonly variant: Variant,
    private readonly process: ChildProcess,
  ) {}

  static async start(variant: Variant, url: string): Promise<Child> {
    const child = fork(join(__dirname, 'hot-path-child.ts'), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, BENCH_URL: url, BENCH_VARIANT: variant === 'plugin' ? 'plugin' : 'bare' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    onExitSync(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`hot-path child (${variant}) exited with ${code}`)));
    });
    return new Child(variant, child);
  }

  run(request: Omit<RunRequest, 'type'>): Promise<RunReply> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`hot-path child (${this.variant}) exited with ${code}`));
      this.process.once('exit', onExit);
      this.process.once('message', (reply: RunReply) => {
        this.process.off('exit', onExit);
        resolve(reply);
      });
      this.process.send({ type: 'run', ...request } satisfies RunRequest);
    });
  }

  async close(): Promise<void> {
    if (this.process.exitCode !== null) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.send({ type: 'close' });
    await exited;
  }
}

export async function hotPath(settings: SectionSettings): Promise<HotPathResult> {
  const quick = settings.mode === 'quick';
  const rounds = quick ? 4 : 24;
  const runMs = quick ? 120 : 250;
  const f = await fixture();
  const seeder = testSequelize(f.url, { appName: uniqueAppName('seed'), plugin: false });
  await defineItem(seeder).bulkCreate(Array.from({ length: ROWS }, (_, i) => ({ tag: `row-${i}` })));
  await seeder.close();
  const children: Child[] = [];
  const cells: HotPathCell[] = [];
  try {
    children.push(await Child.start('bare', f.url), await Child.start('plugin', f.url), await Child.start('control', f.url));
    for (const workload of WORKLOADS) {
      for (const concurrency of CONCURRENCY) {
        settings.progress(`hot path: ${workload}, concurrency ${concurrency}`);
        // Warm-up, alternating: JIT, and the pools filled to `concurrency`.
        for (let i = 0; i < (quick ? 2 : 3); i++) for (const c of children) await c.run({ workload, concurrency, ms: runMs });
        const samples = {
          bare: [] as RunReply[],
          plugin: [] as RunReply[],
          control: [] as RunReply[],
          ratio: [] as number[],
          controlRatio: [] as number[],
        };
        for (let r = 0; r < rounds; r++) {
          for (const c of PERMUTATIONS[r % PERMUTATIONS.length]!.map((i) => children[i]!)) {
            const reply = await c.run({ workload, concurrency, ms: runMs });
            if (reply.failures > 0)
              settings.fail(
                `hot path ${workload} (${c.variant}): ${reply.failures} operations failed with no fault injected: ${reply.errors[0]}`,
              );
            samples[c.variant].push(reply);
          }
          const bareRate = opsPerSec(samples.bare.at(-1)!);
          samples.ratio.push(opsPerSec(samples.plugin.at(-1)!) / bareRate);
          samples.controlRatio.push(opsPerSec(samples.control.at(-1)!) / bareRate);
        }
        // A profiled run of each, outside the timed rounds: the sampler slows what it watches.
        const profileMs = runMs * (quick ? 2 : 4);
        const bareProfile = await children[0]!.run({ workload, concurrency, ms: profileMs, profile: true });
        const pluginProfile = await children[1]!.run({ workload, concurrency, ms: profileMs, profile: true });
        const [q1, q2, q3] = quartiles(samples.ratio);
        const [c1, c2, c3] = quartiles(samples.controlRatio);
        cells.push({
          workload,
          concurrency,
          rounds,
          bareOpsPerSec: median(samples.bare.map(opsPerSec)),
          pluginOpsPerSec: median(samples.plugin.map(opsPerSec)),
          ratio: q2,
          ratioQ1: q1,
          ratioQ3: q3,
          controlRatio: c2,
          controlRatioQ1: c1,
          controlRatioQ3: c3,
          bareHeapBytesPerQuery: median(samples.bare.map((s) => s.heapBytes / Math.max(1, s.ops))),
          pluginHeapBytesPerQuery: median(samples.plugin.map((s) => s.heapBytes / Math.max(1, s.ops))),
          bareCpuUsPerQuery: median(samples.bare.map((s) => s.cpuUserUs / Math.max(1, s.ops))),
          pluginCpuUsPerQuery: median(samples.plugin.map((s) => s.cpuUserUs / Math.max(1, s.ops))),
          pluginSelfUsPerQuery: (pluginProfile.pluginSelfUs ?? 0) / Math.max(1, pluginProfile.ops),
          bareSelfUsPerQuery: (bareProfile.pluginSelfUs ?? 0) / Math.max(1, bareProfile.ops),
          profiledUsPerQuery: (pluginProfile.profiledUs ?? 0) / Math.max(1, pluginProfile.ops),
        });
      }
    }
  } finally {
    await Promise.all(children.map((c) => c.close().catch(() => {})));
    await f.close();
  }
  const progress = (message: string): void => settings.progress(message);
  return { runMs, cells, allocation: await allocation(quick, progress), instructions: await instructions(quick, progress) };
}

/** Every order of the three children: no one of them is always first or last in a round. */
const PERMUTATIONS = [
  [0, 1, 2],
  [2, 1, 0],
  [1, 2, 0],
  [0, 2, 1],
  [2, 0, 1],
  [1, 0, 2],
] as const;

function quartiles(values: readonly number[]): [number, number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  return [sorted[Math.floor((sorted.length - 1) / 4)]!, median(sorted), sorted[Math.ceil(((sorted.length - 1) * 3) / 4)]!];
}

function opsPerSec(reply: RunReply): number {
  return (reply.ops * 1000) / reply.elapsedMs;
}
