import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

/** Daemons still running, killed if the test process exits without cleaning up. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface DaemonOptions {
  /** Resolve `start` once this loopback port accepts connections. */
  readyPort: number;
  /** Run as this user (numeric ids), e.g. because the program refuses to run as root. */
  uid?: number | undefined;
  gid?: number | undefined;
  cwd?: string;
  /** How long to wait for the port, default 10 s. */
  readyTimeoutMs?: number;
}

/**
 * A middle box (haproxy, pgbouncer) run in the foreground as a child of the test process, so
 * that a test can kill it, restart it and read what it logged.
 */
export class Daemon {
  private output = '';
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    running.add(child);
    const collect = (chunk: Buffer) => {
      // The tail is enough to explain a failure.
      this.output = (this.output + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        running.delete(child);
        resolve();
      });
    });
  }

  static async start(name: string, command: string, args: string[], options: DaemonOptions): Promise<Daemon> {
    const child = spawn(command, args, {
      cwd: options.cwd,
      uid: options.uid,
      gid: options.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const daemon = new Daemon(name, child);
    child.once('error', () => {}); // surfaced as an early exit below
    try {
      await daemon.waitForPort(options.readyPort, options.readyTimeoutMs ?? 10_000);
    } catch (error) {
      await daemon.kill('SIGKILL');
      throw error;
    }
    return daemon;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What it wrote to stdout and stderr (the last 20 kB). */
  log(): string {
    return this.output;
  }

  /** Sends `signal` and resolves once the process has exited; SIGKILL if it lingers. */
  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
    if (!this.alive) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private async waitForPort(port: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`${this.name} exited before listening on ${port}:\n${this.output}`);
      if (await accepts(port)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`${this.name} did not listen on ${port} within ${timeoutMs} ms:\n${this.output}`);
  }
}

/** Does something accept TCP connections on this loopback port? */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
