/**
 * Seeded chaos: `npm run chaos -- [--seeds N] [--seed S] [--seconds T] [--bare] [--slack-ms MS] [--keep-black-holes]`.
 *
 * Runs seeds S, S+1, … S+N-1 one after another against an embedded PostgreSQL of its own (it
 * restarts it): each seed is a random fault schedule and a mixed workload on instances with the
 * plugin (see test/support/chaos). Prints every violated invariant with the error's stack and
 * the command that replays the seed; exits 1 if any seed failed.
 */
import { randomBytes } from 'node:crypto';
import { TestServer } from '../test/support/postgres';
import { formatViolations, replayCommand } from '../test/support/chaos/report';
import { DEFAULT_SLACK_MS, runChaos } from '../test/support/chaos/run';
import { parseArgs } from './lib/args';
import { cleanup, initScratch, onCleanup, onInterrupt } from './lib/scratch';

const USAGE = `usage: npm run chaos -- [--seeds N] [--seed S] [--seconds T] [--bare] [--slack-ms MS] [--keep-black-holes]
  --seeds N     how many seeds to run (default 10), S, S+1, ...
  --seed S      the first seed (default: random)
  --seconds T   length of each run (default 4)
  --bare        add a bare Sequelize instance to each run (more load; its errors are not checked)
  --slack-ms    allowance over an operation's deadline for a busy machine (default ${DEFAULT_SLACK_MS})
  --keep-black-holes  leave the plugin instances' silent faults in place at the end: a statement
                stuck on one is a violation however short the run
`;

const args = parseArgs(
  process.argv.slice(2),
  { flags: ['bare', 'keep-black-holes'], numbers: ['seeds', 'seed', 'seconds', 'slack-ms'] },
  USAGE,
);
const seeds = Math.floor(args.number('seeds', 10));
const first = Math.floor(args.number('seed', randomBytes(3).readUIntLE(0, 3) + 1));
const seconds = args.number('seconds', 4);
const bare = args.flag('bare');
const keepBlackHoles = args.flag('keep-black-holes');
const slackMs = args.number('slack-ms', DEFAULT_SLACK_MS);
/** One seed may take its run, the drain and the checks; far beyond that it is hung. */
const SEED_TIMEOUT_MS = (seconds + 120) * 1000;

async function main(): Promise<number> {
  initScratch('sar-chaos');
  // Set by the signal handler, which flow analysis does not see.
  let interrupted = false;
  onInterrupt(() => (interrupted = true));
  const server = await TestServer.start();
  onCleanup(() => server.destroy());
  console.log(`chaos: ${seeds} seeds from ${first}, ${seconds} s each${bare ? ', with a bare instance' : ''}`);
  const failed: number[] = [];
  let violations = 0;
  // A run listens for these itself; one that comes between runs belongs to the run before.
  let running = false;
  let last = first;
  const between = (error: unknown) => {
    if (running) return;
    violations++;
    if (!failed.includes(last)) failed.push(last);
    console.log(`VIOLATION seed=${last} [2 uncaught] after the run ended: ${error instanceof Error ? error.stack : String(error)}`);
  };
  process.on('uncaughtException', between);
  process.on('unhandledRejection', between);
  for (let seed = first; seed < first + seeds && !(interrupted as boolean); seed++) {
    const started = Date.now();
    running = true;
    last = seed;
    const result = await runChaos(server, {
      seed,
      seconds,
      bare,
      slackMs,
      keepBlackHoles,
      log: (line) => console.log(`  ${line}`),
    }).finally(() => (running = false));
    const took = ((Date.now() - started) / 1000).toFixed(1);
    if (result.violations.length === 0) {
      console.log(`seed ${seed}: ok (${took} s) ${result.summary[0] ?? ''}`);
      continue;
    }
    failed.push(seed);
    violations += result.violations.length;
    console.log(`seed ${seed}: FAILED, ${result.violations.length} violations (${took} s)`);
    console.log(formatViolations(result));
    for (const line of result.summary) console.log(`  ${line}`);
    console.log(`  replay: ${replayCommand(seed, seconds, { bare, keepBlackHoles })}`);
  }
  console.log('');
  if (failed.length === 0) {
    console.log(`chaos: PASS, ${seeds} seeds without a violation`);
    return 0;
  }
  console.log(`chaos: FAIL, ${violations} violations in ${failed.length} of ${seeds} seeds; replay with:`);
  for (const seed of failed) console.log(`  ${replayCommand(seed, seconds, { bare, keepBlackHoles })}`);
  return 1;
}

// A last resort against a hang anywhere: bounded, and still cleans up.
setTimeout(() => {
  console.error('chaos: hard timeout, cleaning up and exiting');
  void cleanup().finally(() => process.exit(3));
}, seeds * SEED_TIMEOUT_MS).unref();

void main()
  .catch((error: unknown) => {
    console.error(error);
    return 1;
  })
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  });
