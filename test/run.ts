/**
 * The test command: starts one PostgreSQL for the whole run (unless DATABASE_URL names a
 * superuser URL), runs every test file with node's test runner, and stops the server.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { TestServer } from './support/postgres';

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'support' || entry.name === 'fixtures' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') ? [relative(process.cwd(), path)] : [];
  });
}

/**
 * `--concurrency N` (or TEST_CONCURRENCY=N): test files run side by side; default 2. The other
 * arguments are fragments of the test files to run.
 */
function parseArgs(argv: readonly string[]): { concurrency: number; filter: string[] } {
  let raw = process.env['TEST_CONCURRENCY'] ?? '2';
  const filter: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--concurrency') raw = argv[++i] ?? '';
    else if (arg.startsWith('--concurrency=')) raw = arg.slice('--concurrency='.length);
    else filter.push(arg);
  }
  const concurrency = Number(raw);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new TypeError(`test concurrency must be a positive whole number, got '${raw}'`);
  return { concurrency, filter };
}

/** No single test runs away: far beyond what any takes on a loaded machine, it fails instead. */
const TEST_TIMEOUT_MS = 180_000;

async function main(): Promise<number> {
  const { concurrency, filter } = parseArgs(process.argv.slice(2));
  const files = testFiles(join(__dirname))
    .filter((f) => filter.length === 0 || filter.some((p) => f.includes(p)))
    .sort();
  let server: TestServer | undefined;
  if (!process.env['DATABASE_URL']) {
    server = await TestServer.start();
    process.env['DATABASE_URL'] = server.url;
    console.log(`# started PostgreSQL on 127.0.0.1:${server.port}`);
  }
  try {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${TEST_TIMEOUT_MS}`, ...files],
      {
        stdio: 'inherit',
        env: process.env,
      },
    );
    return await new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  } finally {
    await server?.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
