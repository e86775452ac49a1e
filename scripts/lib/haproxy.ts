/**
 * The real HAProxy (Debian package `haproxy`) in TCP mode in front of PostgreSQL, with
 * `timeout client` / `timeout server` as its idle timeout: the production setup whose idle
 * closes the demo is about. Optional: callers fall back to FaultProxy's `idleTimeoutMs`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../test/support/postgres';
import { onCleanup, onExitSync } from './scratch';

export interface RunningHaproxy {
  readonly host: string;
  readonly port: number;
  readonly version: string;
  stop(): Promise<void>;
}

/** The `haproxy -v` banner's version, or undefined when the binary is not installed. */
export function haproxyVersion(): string | undefined {
  const result = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  return /version (\S+)/i.exec(result.stdout)?.[1] ?? 'unknown';
}

export async function startHaproxy(target: { host: string; port: number }, idleTimeoutMs: number): Promise<RunningHaproxy> {
  const version = haproxyVersion();
  if (!version) throw new Error('haproxy is not installed (apt-get install -y haproxy)');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'haproxy-'));
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    [
      'global',
      '  maxconn 1024',
      'defaults',
      '  mode tcp',
      '  timeout connect 2s',
      // Both: HAProxy closes a TCP connection once it has been idle this long either way.
      `  timeout client ${idleTimeoutMs}ms`,
      `  timeout server ${idleTimeoutMs}ms`,
      'listen postgres',
      `  bind 127.0.0.1:${port}`,
      `  server pg ${target.host}:${target.port}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onExitSync(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  onCleanup(stop);
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr.trim()}`);
    if (await accepts('127.0.0.1', port)) return { host: '127.0.0.1', port, version, stop };
    await sleep(20);
  }
  await stop();
  throw new Error(`haproxy did not listen on 127.0.0.1:${port}: ${stderr.trim()}`);
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
