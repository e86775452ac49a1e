import { connect } from 'node:net';
import type { KnockResult } from '../engine/port';
import type { ReconnectConfig } from '../hooks';

/**
 * Whether a server's port takes a TCP connection, without logging in: a fraction of the CPU of
 * a login attempt through Sequelize (knocking every 4 ms costs about what logging in every 15 ms
 * did), so the scout can look far more often while a server is down. `'unknown'` when a
 * connection would not go to the config's host and port (a Unix socket, an address or a stream
 * set in `dialectOptions`), when no answer comes within `timeoutMs`, and on any error but a
 * refusal. Never rejects. A server that is up sees a connection closed before its handshake
 * (MySQL counts it in `Aborted_connects`): the scout knocks only while the server refuses, so
 * there is at most one such knock each time it comes back.
 */
export function knock(config: ReconnectConfig, timeoutMs: number): Promise<KnockResult> {
  const { host } = config;
  const port = Number(config.port);
  const tcp = typeof host === 'string' && host !== '' && !host.startsWith('/') && Number.isInteger(port) && port > 0 && port < 65536;
  if (!tcp || elsewhere(config)) return Promise.resolve('unknown');
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    // Background work: a knock still waiting never keeps the process alive.
    socket.unref();
    const done = (result: KnockResult): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs);
    socket.once('connect', () => done('open'));
    socket.once('timeout', () => done('unknown'));
    // Kept for the socket's life: an error after the first would otherwise be uncaught.
    socket.on('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED' ? 'refused' : 'unknown'));
  });
}

/**
 * `dialectOptions` that may send a connection elsewhere: a socket or stream, or a host or port
 * other than the config's (mysql2 and mariadb take them from there; Sequelize copies a URL's
 * own there too).
 */
function elsewhere(config: ReconnectConfig): boolean {
  const options = config.dialectOptions;
  if (!options) return false;
  if ('socketPath' in options || 'stream' in options) return true;
  return (
    (options['host'] !== undefined && options['host'] !== config.host) ||
    (options['port'] !== undefined && Number(options['port']) !== Number(config.port))
  );
}
