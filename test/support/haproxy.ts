import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from './binaries';
import { Daemon } from './daemon';
import { freePort } from './postgres';

export const haproxyBinary = () => requireBinary('haproxy');

export interface HAProxyOptions {
  /** Where it forwards to: PostgreSQL, or a proxy in front of it. */
  target: { host: string; port: number };
  /** `timeout client`: a client side silent this long is closed. Default 30 s. */
  timeoutClientMs?: number;
  /** `timeout server`: a server side silent this long (a long query) is closed. Default 30 s. */
  timeoutServerMs?: number;
  /** `timeout connect`. Default 2 s. */
  timeoutConnectMs?: number;
}

/**
 * A real HAProxy in TCP mode, as load balancers put it in front of PostgreSQL, on a free
 * loopback port with a generated configuration, run in the foreground as a child process.
 */
export class HAProxy {
  readonly host = '127.0.0.1';
  private daemon: Daemon | undefined;
  private restarts = 0;

  private constructor(
    private readonly binary: string,
    readonly port: number,
    private readonly dir: string,
    private readonly configPath: string,
  ) {}

  static async start(options: HAProxyOptions): Promise<HAProxy> {
    const binary = haproxyBinary().path;
    if (!binary) throw new Error('haproxy is not installed');
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'sar-haproxy-'));
    const configPath = join(dir, 'haproxy.cfg');
    writeFileSync(configPath, config(port, options));
    const haproxy = new HAProxy(binary, port, dir, configPath);
    try {
      await haproxy.launch();
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    return haproxy;
  }

  /** Times it has been restarted. */
  get restartCount(): number {
    return this.restarts;
  }

  /** What HAProxy logged (its own warnings and alerts; traffic is not logged). */
  log(): string {
    return this.daemon?.log() ?? '';
  }

  /**
   * A hard restart, as a crash or a redeploy looks to clients: SIGTERM closes every
   * connection at once, the port refuses connections for `downMs`, then a new process listens.
   */
  async restart({ downMs = 0 }: { downMs?: number } = {}): Promise<void> {
    await this.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.launch();
    this.restarts++;
  }

  /** Stops the process (every connection is closed); `restart` or `close` after. */
  async stop(): Promise<void> {
    const daemon = this.daemon;
    this.daemon = undefined;
    await daemon?.kill('SIGTERM');
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    // -db: stay in the foreground, no daemon mode; the test owns the process.
    this.daemon = await Daemon.start('haproxy', this.binary, ['-db', '-f', this.configPath], { readyPort: this.port });
  }
}

function config(port: number, o: HAProxyOptions): string {
  return `global
  maxconn 1000
  nbthread 1

defaults
  mode tcp
  timeout connect ${o.timeoutConnectMs ?? 2000}ms
  timeout client ${o.timeoutClientMs ?? 30_000}ms
  timeout server ${o.timeoutServerMs ?? 30_000}ms

listen postgres
  bind 127.0.0.1:${port}
  server pg ${o.target.host}:${o.target.port}
`;
}
