import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminUrl, createDatabase, terminateBackends, uniqueAppName, withHostPort } from '../support/db';
import { gate } from '../support/fixture';
import { freePort } from '../support/postgres';

interface ChildRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts test/support/debug-child.ts with DEBUG=sequelize:autoreconnect against `url`. */
function startChild(url: string, appName: string, gateSql = 'NULL'): Promise<ChildRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '../support/debug-child.ts')], {
    env: {
      ...process.env,
      DEBUG: 'sequelize:autoreconnect',
      DEBUG_COLORS: 'false',
      CHILD_URL: url,
      CHILD_APP: appName,
      CHILD_GATE: gateSql,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** The lines of our namespace, without debug's timestamp. */
function debugLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((line) => line.includes('sequelize:autoreconnect '))
    .map((line) => line.slice(line.indexOf('sequelize:autoreconnect ') + 'sequelize:autoreconnect '.length));
}

describe('debug output with DEBUG=sequelize:autoreconnect', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  const password = decodeURIComponent(new URL(adminUrl()).password);

  before(async () => {
    // Without a password in the URL the "never a secret" assertions below would prove nothing.
    assert.ok(password.length >= 4, 'DATABASE_URL must carry a password for this test');
    db = await createDatabase();
  });
  after(async () => {
    await db.drop();
  });

  it('tells the lost connection, the retry and the reconnect of a read, and never the password', async () => {
    const appName = uniqueAppName('debug');
    const held = await gate(db.url);
    let run: Promise<ChildRun>;
    try {
      run = startChild(db.url, appName, held.sql);
      await held.held(appName);
      assert.equal(await terminateBackends(adminUrl(), appName), 1);
    } finally {
      await held.open();
    }
    const { code, stdout, stderr } = await run;

    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout) as { outcome: string; stats: { disconnects: number; retries: number; reconnects: number } };
    assert.equal(result.outcome, 'rows:1');
    assert.deepEqual([result.stats.disconnects, result.stats.retries, result.stats.reconnects], [1, 1, 1]);

    const lines = debugLines(stderr);
    assert.equal(lines.length, 3, stderr);
    assert.match(lines[0]!, /^connection lost under a statement: terminating connection due to administrator command; retry 1 of 2$/);
    assert.match(lines[1]!, /^reconnected: a new connection for retry 1$/);
    assert.match(lines[2]!, /^statement succeeded on retry 1$/);
    assert.ok(!stderr.includes(password), 'the password appears in the debug output');
  });

  it('tells each refused connect, the retry decision and giving up, and never the password', async () => {
    // Nothing listens on this port: every connect is refused, a failure worth retrying.
    const closed = withHostPort(db.url, '127.0.0.1', await freePort());
    const { code, stdout, stderr } = await startChild(closed, uniqueAppName('debug'));

    assert.equal(code, 0, stderr);
    // Sequelize's own error class and name, as without the plugin, and a ConnectionLostError too.
    assert.equal((JSON.parse(stdout) as { outcome: string }).outcome, 'error:SequelizeConnectionRefusedError (a ConnectionLostError)');
    const lines = debugLines(stderr);
    assert.equal(lines.length, 3, stderr);
    assert.match(lines[0]!, /^connect failed \(transient\): .*ECONNREFUSED.*; retry 1 of 2$/);
    assert.match(lines[1]!, /^connect failed \(transient\): .*ECONNREFUSED.*; retry 2 of 2$/);
    assert.match(lines[2]!, /^giving up: could not connect after 3 attempts: connect ECONNREFUSED .*; no retries left$/);
    assert.ok(!stderr.includes(password), 'the password appears in the debug output');
  });
});
