/**
 * `npm run test:stress [-- FILE_FRAGMENT...]`: the whole suite (test/run.ts) on a machine made
 * busy on purpose: one spinning child process per core keeps every core loaded, and the runner
 * runs more test files side by side than usual. Bounded in time; the spinners are always killed;
 * exits with the suite's code.
 *
 * STRESS_SPINNERS (default: one per core) and STRESS_CONCURRENCY (default 4) change the load.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';

const SPINNERS = whole('STRESS_SPINNERS', availableParallelism());
const CONCURRENCY = whole('STRESS_CONCURRENCY', 4);
/** The suite takes a few minutes on a quiet machine; far beyond that it is hung. */
const TIMEOUT_MS = 45 * 60_000;

function whole(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new TypeError(`${name} must be a whole number, got '${raw}'`);
  return n;
}

/**
 * A process that burns one core until killed. It also stops by itself past the timeout, or once
 * orphaned (this script killed outright), so that it can never outlive the run.
 */
function spinner(): ChildProcess {
  const code = `const end = Date.now() + ${TIMEOUT_MS + 60_000}, parent = process.ppid;
    for (let i = 0; ; i++) if (i % 1e6 === 0 && (Date.now() > end || process.ppid !== parent)) break;`;
  return spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
}

function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill(signal);
}

async function main(): Promise<number> {
  const spinners = Array.from({ length: SPINNERS }, spinner);
  let suite: ChildProcess | undefined;
  // The suite leads its own process group, so that a timeout or Ctrl-C reaches the runner's children.
  const signalSuite = (signal: NodeJS.Signals) => {
    if (suite?.pid !== undefined && suite.exitCode === null && suite.signalCode === null) process.kill(-suite.pid, signal);
  };
  const onSignal = (signal: NodeJS.Signals) => signalSuite(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let timer: NodeJS.Timeout | undefined;
  try {
    console.log(`test:stress: ${SPINNERS} spinning processes, test concurrency ${CONCURRENCY}`);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/run.ts', '--concurrency', String(CONCURRENCY), ...process.argv.slice(2)],
      {
        stdio: 'inherit',
        detached: true,
      },
    );
    suite = child;
    const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
    timer = setTimeout(() => {
      console.error(`test:stress: the suite ran past ${TIMEOUT_MS / 60_000} minutes; stopping it`);
      signalSuite('SIGTERM');
      setTimeout(() => signalSuite('SIGKILL'), 15_000).unref();
    }, TIMEOUT_MS);
    const code = await exited;
    console.log(`test:stress: the suite exited with ${code}`);
    return code;
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    spinners.forEach((s) => stop(s));
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
