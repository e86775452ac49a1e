/**
 * `npm run bench`: what the plugin costs and what it buys, in numbers. Six sections (see
 * scripts/bench/*), each comparing variants interleaved in one run, against an embedded
 * PostgreSQL of its own (section 6 starts a MariaDB too, when installed). Writes
 * bench-results/latest.json and, in a full run, the generated part of BENCHMARKS.md and its
 * pictures (docs/bench/*.svg; other runs draw them into bench-results/). Exits non-zero only on a correctness failure, never on a timing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { TestServer } from '../test/support/postgres';
import { parseArgs } from './lib/args';
import { describeMachine } from './lib/machine';
import { cleanup, initScratch, onCleanup, wasInterrupted } from './lib/scratch';
import { selfCheck } from './bench/heap';
import { hotPath } from './bench/hot-path';
import { outage } from './bench/outage';
import { recovery } from './bench/recovery';
import { silentDeath } from './bench/silent';
import { writePictures } from './bench/silent-report';
import { goals, renderMarkdown, writeBenchmarksMd, type BenchReport } from './bench/report';
import { sideBySide } from './bench/side-by-side';
import { storm } from './bench/storm';
import type { SectionSettings } from './bench/types';
import { buildPlugin } from './bench/built';

const USAGE = `usage: npm run bench -- [--quick] [--only 1,2,…] [--no-write]

  --quick      a short run (a few minutes): fewer rounds and samples; does not rewrite BENCHMARKS.md
  --only LIST  run only these sections (1 hot path, 2 recovery, 3 outage, 4 storm, 5 side by side,
               6 silent death)
  --no-write   do not rewrite BENCHMARKS.md (bench-results/latest.json is always written)
`;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const onlyIndex = argv.indexOf('--only');
  const only = onlyIndex === -1 ? [1, 2, 3, 4, 5, 6] : (argv.splice(onlyIndex, 2)[1] ?? '').split(',').map(Number);
  if (only.some((n) => !(n >= 1 && n <= 6))) {
    process.stderr.write(`--only takes section numbers 1-6\n\n${USAGE}`);
    return 2;
  }
  const args = parseArgs(argv, { flags: ['quick', 'no-write'] }, USAGE);
  const mode = args.flag('quick') ? 'quick' : 'full';
  initScratch('sar-bench');
  const started = performance.now();
  const loadStart = loadavg();
  const log = (message: string): void => {
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}\n`);
  };

  log('starting PostgreSQL (embedded)…');
  const server = await TestServer.start();
  onCleanup(() => server.destroy());
  // test/support's fixtures find the server here.
  process.env['DATABASE_URL'] = server.url;
  const failures: string[] = [];
  const settings: SectionSettings = {
    mode,
    server,
    serverUrl: server.url,
    fail: (message) => {
      failures.push(message);
      log(`CORRECTNESS FAILURE: ${message}`);
    },
    progress: log,
  };

  const report: BenchReport = {
    date: new Date().toISOString().slice(0, 10),
    mode,
    seconds: 0,
    machine: await describeMachine(server.url),
    loadAverage: { start: loadStart, end: [] },
    heapSelfCheck: await selfCheck(),
    goals: [],
    correctnessFailures: failures,
  };
  if (only.includes(1)) {
    log('building the package (npm run build): the hot path is measured as users run it');
    buildPlugin();
    report.hotPath = await hotPath(settings);
  }
  if (only.includes(2)) report.recovery = await recovery(settings);
  if (only.includes(4)) report.storm = await storm(settings);
  if (only.includes(5)) report.sideBySide = await sideBySide(settings);
  if (only.includes(6)) report.silent = await silentDeath(settings);
  // Last: it restarts the server.
  if (only.includes(3)) report.outage = await outage(settings);
  report.seconds = (performance.now() - started) / 1000;
  report.loadAverage.end = loadavg();
  report.goals = goals(report);

  const root = join(__dirname, '..');
  mkdirSync(join(root, 'bench-results'), { recursive: true });
  writeFileSync(join(root, 'bench-results', 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  const markdown = renderMarkdown(report);
  if (mode === 'full' && !args.flag('no-write') && only.length === 6) {
    mkdirSync(join(root, 'docs', 'bench'), { recursive: true });
    const pictures = writePictures(root, report, false);
    writeBenchmarksMd(join(root, 'BENCHMARKS.md'), markdown);
    log(`wrote BENCHMARKS.md, ${pictures.join(', ')} and bench-results/latest.json`);
  } else {
    const pictures = writePictures(join(root, 'bench-results'), report, true);
    log(`wrote bench-results/latest.json${pictures.map((p) => `, ${p}`).join('')}`);
  }
  process.stdout.write(`\n${markdown}\n`);
  await cleanup();
  return failures.length === 0 ? 0 : 1;
}

main().then(
  // After Ctrl-C the signal handler finishes the cleanup and exits with 130.
  (code) => wasInterrupted() || process.exit(code),
  async (error: unknown) => {
    // After Ctrl-C, whatever was running fails as the server goes away: not worth a stack trace.
    if (wasInterrupted()) return;
    process.stderr.write(`\nbench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await cleanup();
    process.exit(1);
  },
);
