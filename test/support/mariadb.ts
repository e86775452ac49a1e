import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { findBinary, isCI, requireBinary, type BinaryRequirement } from './binaries';
import { freePort } from './postgres';

/** Servers still running, killed if the test process exits without cleaning up. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Where the MySQL-family tests find their server: test/run.ts starts one, or MARIADB_URL / MYSQL_URL names one. */
export function mariadbUrl(): string {
  const url = process.env['MARIADB_URL'] ?? process.env['MYSQL_URL'];
  if (!url) throw new Error('MARIADB_URL is not set: run the suite with `npm test` (test/run.ts starts MariaDB)');
  return url;
}

/**
 * What a MySQL-family test file does without a server: locally its tests are skipped with a
 * loud message; under CI the run fails, so CI can never pass by skipping.
 */
export function mariadbRequirement(): BinaryRequirement {
  if (process.env['MARIADB_URL'] ?? process.env['MYSQL_URL']) return { path: 'url', skip: false, failure: undefined };
  const path = findBinary('mariadbd');
  if (path && findBinary('mariadb-install-db')) return { path, skip: false, failure: undefined };
  const message = 'mariadb-server is not installed (apt-get update && apt-get install -y mariadb-server) and MARIADB_URL is not set';
  if (isCI()) return { path: undefined, skip: false, failure: `${message}: CI must run the MySQL/MariaDB scenarios` };
  return { path: undefined, skip: `${message}; skipped locally, required under CI=true`, failure: undefined };
}

/**
 * What a test file that starts a MariaDB of its own needs (one that breaks the whole server: a
 * freeze, a lowered max_connections): the binaries, even where MARIADB_URL names a server.
 */
export function ownMariadbRequirement(): BinaryRequirement {
  const requirement = mariadbRequirement();
  return requirement.failure ? requirement : requireBinary('mariadbd', 'mariadb-server');
}

/**
 * A MariaDB server of the test suite's own (Debian's mariadb-server), in a temporary folder,
 * on a free loopback port with its own socket. root connects over TCP without a password. A
 * test may stop and start it again (same data). It runs as the current user: as root that
 * needs `--user=root`, and the folder may stay private to root.
 */
export class MariaDbServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<MariaDbServer> {
    const dir = mkdtempSync(join(tmpdir(), 'sar-mariadb-'));
    const server = new MariaDbServer(await freePort(), dir);
    try {
      await server.initialise();
      await server.start();
    } catch (error) {
      await server.destroy();
      throw error;
    }
    return server;
  }

  get url(): string {
    return `mysql://root@127.0.0.1:${this.port}/mysql`;
  }

  private async initialise(): Promise<void> {
    const child = spawn(
      findBinary('mariadb-install-db') ?? 'mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${join(this.dir, 'data')}`,
        `--user=${userInfo().username}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-8000)));
    child.stderr?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-8000)));
    const code = await exited(child);
    if (code !== 0) throw new Error(`mariadb-install-db failed (exit ${code}): ${output.trim()}`);
  }

  private get tmp(): string {
    const dir = join(this.dir, 'tmp');
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Starts the server (again, after `stop()`) and resolves once it accepts connections. */
  async start(): Promise<void> {
    const child = spawn(
      findBinary('mariadbd') ?? 'mariadbd',
      [
        '--no-defaults',
        `--datadir=${join(this.dir, 'data')}`,
        `--user=${userInfo().username}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        `--socket=${join(this.dir, 'sock')}`,
        `--pid-file=${join(this.dir, 'pid')}`,
        // Its own: a server starting deletes every stale-looking `#sql*` file in its tmpdir, and
        // the suite starts several at once (restart tests), which deleted each other's live
        // temporary tables in a shared /tmp (EE_DELETE, "No such file or directory").
        `--tmpdir=${this.tmp}`,
        '--skip-log-bin',
        '--skip-name-resolve',
        '--innodb-buffer-pool-size=32M',
        '--innodb-log-file-size=16M',
        '--innodb-flush-log-at-trx-commit=0',
        '--max-connections=300',
        '--lc-messages=en_US',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.on('error', () => {});
    this.process = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    await new Promise<void>((resolve, reject) => {
      let log = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        log = (log + chunk.toString()).slice(-8000);
        if (log.includes('ready for connections')) {
          log = '';
          resolve();
        }
      });
      child.once('error', reject);
      child.once('exit', (code, signal) => reject(new Error(`mariadbd exited during start (${code ?? signal}): ${log.trim()}`)));
    });
  }

  /** Shuts the server down: SIGTERM (clean: sessions are closed) or SIGKILL (a crash). */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.process;
    if (!child) return;
    this.process = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const done = exited(child);
    child.kill(signal);
    await done;
  }

  /**
   * Freezes the server (SIGSTOP; mariadbd is one process), as a hung VM: the kernel still
   * completes TCP handshakes on its port, nothing answers. `thaw()` (SIGCONT) wakes it.
   */
  freeze(): void {
    this.signal('SIGSTOP');
  }

  thaw(): void {
    this.signal('SIGCONT');
  }

  private signal(signal: NodeJS.Signals): void {
    const child = this.process;
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      child.kill(signal);
    } catch {
      // Exited meanwhile.
    }
  }

  async destroy(): Promise<void> {
    // A frozen server would never act on SIGTERM.
    this.thaw();
    await this.stop().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  }
}

function exited(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(1);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? 1));
  });
}
