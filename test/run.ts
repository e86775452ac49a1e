/**
 * The test command: starts one PostgreSQL for the whole run (unless DATABASE_URL names a
 * superuser URL) and, when files under test/mysql run, one MariaDB (unless MARIADB_URL or
 * MYSQL_URL names one, or mariadb-server is missing: those files then skip, or fail under CI),
 * runs the test files with node's test runner, and stops the servers.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { MariaDbServer, mariadbRequirement } from './support/mariadb';
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
  const isMysql = (f: string) => f.split(/[\\/]/).includes('mysql');
  let server: TestServer | undefined;
  let mariadb: MariaDbServer | undefined;
  if (!process.env['DATABASE_URL'] && files.some((f) => !isMysql(f))) {
    server = await TestServer.start();
    process.env['DATABASE_URL'] = server.url;
    console.log(`# started PostgreSQL on 127.0.0.1:${server.port}`);
  }
  if (files.some(isMysql) && mariadbRequirement().path && !process.env['MARIADB_URL'] && !process.env['MYSQL_URL']) {
    mariadb = await MariaDbServer.start().catch(async (error: unknown) => {
      await server?.destroy();
      throw error;
    });
    process.env['MARIADB_URL'] = mariadb.url;
    console.log(`# started MariaDB on 127.0.0.1:${mariadb.port}`);
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
    await Promise.all([server?.destroy(), mariadb?.destroy()]);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
