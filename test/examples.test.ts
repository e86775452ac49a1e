/**
 * The programs in examples/ run as written, each against a fresh database on the test server,
 * with the real fault each one provokes (a session ended under a statement, a rotated password),
 * and report what the plugin did.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createDatabase } from './support/db';

const root = join(__dirname, '..');
const run = promisify(execFile);

interface Stats {
  disconnects: number;
  connectFailures: number;
  retries: number;
  retriesSucceeded: number;
  retriesFailed: number;
  notRetried: number;
}

describe('examples/', () => {
  let db: { url: string; drop(): Promise<void> };
  before(async () => {
    db = await createDatabase();
  });
  after(() => db?.drop());

  /** Runs an example as `npm run example` does; returns its output, failing on anything on stderr. */
  async function example(...args: string[]): Promise<{ lines: string[]; stats: Stats }> {
    const { stdout, stderr } = await run(
      process.execPath,
      args.map((a) => (a.startsWith('examples/') ? join(root, a) : a)),
      {
        cwd: root,
        env: { ...process.env, DATABASE_URL: db.url, TSX_TSCONFIG_PATH: join(root, 'examples/tsconfig.json') },
        timeout: 60_000,
      },
    );
    assert.equal(stderr, '');
    const lines = stdout.trim().split('\n');
    const stats = lines.find((l) => l.startsWith('stats: '));
    assert.ok(stats, stdout);
    return { lines, stats: JSON.parse(stats.slice('stats: '.length)) as Stats };
  }

  it('javascript: a read retried after its session ended, a write that may have run reported and not run twice', async () => {
    const { lines, stats } = await example('examples/javascript/app.js');
    assert.deepEqual(lines.slice(0, 2), ['read retried: 1 note(s)', 'write not retried: write-may-have-executed, mayHaveExecuted=true']);
    assert.equal(stats.retriesSucceeded, 1);
    assert.equal(stats.notRetried, 1);
  });

  it('typescript-decorators: runs under tsx; the model hook runs and the read is retried', async () => {
    const { lines, stats } = await example('--import', 'tsx', 'examples/typescript-decorators/app.ts');
    assert.match(lines[0]!, /^retrying a LedgerEntry statement after: terminating connection due to administrator command$/);
    assert.deepEqual(lines.slice(1, 3), ['ledger total: 42', 'cache: hello']);
    assert.equal(stats.retriesSucceeded, 1);
    assert.equal(stats.retriesFailed, 0);
  });

  it('credentials-rotation: after a rotation the next statement succeeds, the store read once more', async () => {
    const { lines, stats } = await example('--import', 'tsx', 'examples/credentials-rotation/app.ts');
    assert.match(lines[0]!, /^before rotation: connected as example_rotation_\d+$/);
    assert.match(lines[1]!, /^after rotation: connected as example_rotation_\d+$/);
    assert.equal(lines[2], 'secrets store read 2 time(s)');
    assert.ok(stats.connectFailures >= 1, JSON.stringify(stats));
    assert.equal(stats.retriesFailed, 0);
  });

  it('nestjs: the plugin on the instance SequelizeModule.forRootAsync created; a service read retried', async () => {
    const { lines, stats } = await example('--import', 'tsx', 'examples/nestjs/main.ts');
    assert.equal(lines[0], 'notes counted: 2');
    assert.equal(stats.disconnects, 1);
    assert.equal(stats.retriesSucceeded, 1);
  });
});
