/**
 * Instructions per successful operation, bare Sequelize and the plugin: counted by callgrind,
 * so that neither a neighbour's load nor the CPU's clock moves them. Each variant runs
 * instructions-child.ts under `valgrind --tool=callgrind` with `node --single-threaded` (no
 * background compilation or GC threads whose work would land in the count at random). The
 * warm-up runs uninstrumented (fast); then, with the counters zeroed before and read after
 * (callgrind_control), the child runs N and 2N operations, many times each: (I(2N) − I(N)) / N,
 * each length's lowest count, is the cost of one operation, JIT-compiled as in a long-running
 * app, with what a loop costs besides (the command's round trip) cancelled out. What V8 decides
 * to compile and inline differs from one process to the next (by a few hundred instructions per
 * SELECT 1, a few tenths of a percent, measured on unchanged code): each variant is counted in
 * several processes, and the figure is their median.
 * Under `--single-threaded` V8 compiles on the main thread, in the counted loops: for a while
 * after a long warm-up it still compiles a function now and then (a few million instructions
 * each, measured), and loops fall to a steady count that repeats within ~0.3 % (SELECT 1
 * settles after ~8 pairs of 150 / 300); hence the long warm-up, the many pairs, and the lowest
 * count, which is a settled loop's (compiling and GC only add). No GC runs in a counted loop
 * (the young generation is enlarged, as for alloc.ts); what GC costs follows the bytes
 * allocated, measured beside. Skipped, with a note, where valgrind is not on PATH.
 */
import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { defineItem, fixture } from '../../test/support/fixture';
import { findBinary } from '../../test/support/binaries';
import { testSequelize, uniqueAppName } from '../../test/support/db';
import { onExitSync } from '../lib/scratch';
import { median } from '../lib/stats';
import { markdownTable } from '../lib/table';
import { ROWS } from './hot-path-protocol';
import type { Goal } from './types';

export type InstructionWorkload = 'SELECT 1' | 'findOne';

export interface InstructionCell {
  workload: InstructionWorkload;
  /** Operations in the shorter loop (the longer one runs twice as many), and warm-up before. */
  ops: number;
  warmup: number;
  /** Pairs of loops per process; a process's figure comes from each length's lowest count. */
  pairs: number;
  /** Instructions per operation: the median of the processes' figures, and each process's (how well it resolves). */
  bare: number;
  plugin: number;
  bareRuns: number[];
  pluginRuns: number[];
}

export type InstructionResult = { cells: InstructionCell[] } | { skipped: string };

type Variant = 'bare' | 'plugin';
const WORKLOADS: readonly InstructionWorkload[] = ['SELECT 1', 'findOne'];
/** The plugin may cost this much more per operation than bare Sequelize, in instructions. */
const GOAL_PCT = 2;
/** Warm-up rounds, and the idle pause between two: longer than the watchdog's tick (at most 1 s). */
const WARMUP_ROUNDS = 5;
const IDLE_MS = 2500;
/** Young generation per semi-space, MB: room for every counted loop without a scavenge. */
const SEMI_SPACE_MB = 160;

export async function instructions(quick: boolean, progress: (message: string) => void): Promise<InstructionResult> {
  const valgrind = findBinary('valgrind');
  const control = findBinary('callgrind_control');
  if (!valgrind || !control) return { skipped: 'valgrind (callgrind_control) is not on PATH: instruction counts not measured' };
  const settings = { ops: 150, warmup: quick ? 10_000 : 20_000, pairs: quick ? 10 : 12 };
  const processes = quick ? 2 : 3;
  const f = await fixture();
  const seeder = testSequelize(f.url, { appName: uniqueAppName('seed'), plugin: false });
  await defineItem(seeder).bulkCreate(Array.from({ length: ROWS }, (_, i) => ({ tag: `row-${i}` })));
  await seeder.close();
  try {
    const runs: Record<Variant, number[][]> = { bare: [], plugin: [] };
    for (let p = 0; p < processes; p++) {
      progress(
        `instructions: bare and plugin side by side under callgrind, process ${p + 1}/${processes} (${settings.pairs} pair(s) of ${settings.ops} / ${2 * settings.ops} operations)`,
      );
      // Side by side: a count does not depend on what else the machine does.
      const [bare, plugin] = await Promise.all(
        (['bare', 'plugin'] as const).map((v) => countVariant(valgrind, control, f.url, v, settings)),
      );
      runs.bare.push(bare!);
      runs.plugin.push(plugin!);
    }
    return {
      cells: WORKLOADS.map((workload, i) => {
        const bareRuns = runs.bare.map((r) => r[i]!);
        const pluginRuns = runs.plugin.map((r) => r[i]!);
        return { workload, ...settings, bare: median(bareRuns), plugin: median(pluginRuns), bareRuns, pluginRuns };
      }),
    };
  } finally {
    await f.close();
  }
}

/**
 * A GC or a burst of compiling that lands in one loop and not in another only adds to its count,
 * by as much as a hundred operations cost: the lowest count of each length is the one without it.
 */
function perOperation({ short, long }: Record<'short' | 'long', number[]>, ops: number): number {
  return (Math.min(...long) - Math.min(...short)) / ops;
}

/** Instructions per operation of each workload (in WORKLOADS' order), one a pair, in one variant's process. */
async function countVariant(
  valgrind: string,
  control: string,
  url: string,
  variant: Variant,
  { ops, warmup, pairs }: { ops: number; warmup: number; pairs: number },
): Promise<number[]> {
  const child: ChildProcessByStdio<Writable, Readable, null> = spawn(
    valgrind,
    [
      '--tool=callgrind',
      '--quiet',
      '--instr-atstart=no',
      `--callgrind-out-file=${join(tmpdir(), `callgrind.${variant}.out`)}`,
      process.execPath,
      '--single-threaded',
      '--expose-gc',
      `--min-semi-space-size=${SEMI_SPACE_MB}`,
      `--max-semi-space-size=${SEMI_SPACE_MB}`,
      '--import',
      'tsx',
      join(__dirname, 'instructions-child.ts'),
    ],
    // BENCH_PLUGIN_OPTIONS, when set, goes through to the child as it is (a setting other than the defaults).
    { env: { ...process.env, BENCH_URL: url, BENCH_VARIANT: variant }, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  onExitSync(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const replies = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const ask = async (command: string): Promise<void> => {
    if (command) child.stdin.write(`${command}\n`);
    const next = await replies.next();
    const reply = (next.done ? { error: `the ${variant} child exited` } : JSON.parse(next.value)) as { error?: string; failures?: number };
    if (reply.error || reply.failures)
      throw new Error(`instructions (${variant}), ${command || 'start'}: ${reply.error ?? `${reply.failures} operations failed`}`);
  };
  const callgrind = async (...args: string[]): Promise<string> =>
    (await promisify(execFile)(control, [...args, String(child.pid)], { encoding: 'utf8' })).stdout;
  /** Instructions of `n` operations: the counters zeroed before, read after (all threads). */
  const count = async (workload: InstructionWorkload, n: number): Promise<number> => {
    await ask('gc');
    await callgrind('--zero');
    await ask(`run ${workload} ${n}`);
    const totals = await callgrind('-e', 'Ir');
    const total = [...totals.matchAll(/^\s*Th \d+\s+([\d,]+)/gm)].reduce((sum, m) => sum + Number(m[1]!.replaceAll(',', '')), 0);
    return total;
  };
  try {
    await ask('');
    const perOp: number[] = [];
    for (const workload of WORKLOADS) {
      // Warmed up alone: the other workload's calls would leave shared code to deoptimise here.
      await warmUp(ask, workload, warmup);
      // A loop not counted takes what switching the instrumentation on costs once.
      await callgrind('--instr=on');
      await count(workload, ops);
      const loops: Record<'short' | 'long', number[]> = { short: [], long: [] };
      for (let p = 0; p < pairs; p++) {
        // Which length runs first alternates.
        for (const length of p % 2 === 0 ? (['long', 'short'] as const) : (['short', 'long'] as const)) {
          loops[length].push(await count(workload, length === 'long' ? 2 * ops : ops));
        }
      }
      perOp.push(perOperation(loops, ops));
      await callgrind('--instr=off');
    }
    return perOp;
  } finally {
    child.stdin.end('quit\n');
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
  }
}

/**
 * The warm-up in rounds with idle pauses between them, as a long-running application goes idle
 * between requests: without them, code that runs only after a pause (the silence watchdog
 * arming its timer again at the first statement) would first run in the counted loops, whose
 * pauses (reading the counters) are the first; V8 would then deoptimise the functions compiled
 * without it and run them unoptimised for the rest of the count (seen: the tap's statement
 * bookkeeping in baseline code, ~1,500 instructions per SELECT 1 in generic store and load ICs).
 */
async function warmUp(ask: (command: string) => Promise<void>, workload: InstructionWorkload, warmup: number): Promise<void> {
  for (let round = 0; round < WARMUP_ROUNDS; round++) {
    await ask(`run ${workload} ${warmup / WARMUP_ROUNDS}`);
    if (round < WARMUP_ROUNDS - 1) await sleep(IDLE_MS);
  }
}

const pctOver = (c: InstructionCell): number => (100 * (c.plugin - c.bare)) / c.bare;

export function instructionGoal(result: InstructionResult): Goal {
  const what = '1. hot path: instructions per successful operation, plugin vs bare, worst workload';
  if ('skipped' in result) return { what, target: `≤ +${GOAL_PCT} %`, measured: result.skipped, met: 'not measured' };
  const worst = result.cells.reduce((a, c) => (pctOver(c) > pctOver(a) ? c : a));
  return {
    what,
    target: `≤ +${GOAL_PCT} %`,
    measured: `${signedPct(pctOver(worst))} (${worst.workload})`,
    met: pctOver(worst) <= GOAL_PCT,
  };
}

const signedPct = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(2)} %`;

/** Markdown for the instruction counts, under section 1. */
export function renderInstructions(result: InstructionResult): string[] {
  if ('skipped' in result) return ['', `Instructions per operation: ${result.skipped}.`];
  const int = (x: number): string => Math.round(x).toLocaleString('en-US');
  const c0 = result.cells[0];
  return [
    '',
    `Instructions per successful operation, counted by callgrind under \`node --single-threaded\` (no background compilation): ` +
      `after ${int(c0?.warmup ?? 0)} operations of warm-up (uninstrumented; in ${WARMUP_ROUNDS} rounds with ${IDLE_MS / 1000} s idle between them, as an application idles between requests), each variant counted over ${int(c0?.ops ?? 0)} and ${int(2 * (c0?.ops ?? 0))} ` +
      `sequential operations, ${c0?.pairs ?? 0} times each; the difference of the lowest count of each length divided by the difference in length ` +
      '(V8 still compiles a function now and then in the first pairs, and a compile or a GC landing in a loop only adds). ' +
      'The plugin with its defaults, but idle connections validated after 60 s instead of 500 ms: the counter is read and zeroed between loops, which takes longer, and each loop would start with a validation round trip. ' +
      `Each variant in ${c0?.bareRuns.length ?? 0} processes (V8's compiling and inlining differ from one to the next): the median, and each process's figure, which shows what the count resolves.`,
    '',
    markdownTable(
      ['workload', 'instructions/op bare', 'plugin', 'Δ', 'processes: bare', 'plugin'],
      result.cells.map((c) => [
        c.workload,
        int(c.bare),
        int(c.plugin),
        signedPct(pctOver(c)),
        c.bareRuns.map(int).join(' / '),
        c.pluginRuns.map(int).join(' / '),
      ]),
    ),
  ];
}
