/**
 * The scout's knock (host/knock.ts): a TCP connect to the address a new connection would go to,
 * on real sockets of this machine.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { knock } from '../../src/host/knock';

async function listening(): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const HELD_BACKLOG = [
  'import socket, time',
  's = socket.socket()',
  "s.bind(('127.0.0.1', 0))",
  's.listen(0)',
  'print(s.getsockname()[1], flush=True)',
  'time.sleep(60)',
].join('\n');

describe('knock', () => {
  it('tells a port that refuses from one that takes connections', async () => {
    const server = await listening();
    try {
      assert.equal(await knock({ host: '127.0.0.1', port: server.port }, 1000), 'open');
      // As Sequelize keeps a URL's settings: port as text, host and port copied into dialectOptions.
      const fromUrl = { host: '127.0.0.1', port: String(server.port), dialectOptions: { host: '127.0.0.1', port: String(server.port) } };
      assert.equal(await knock(fromUrl, 1000), 'open');
    } finally {
      await server.close();
    }
    assert.equal(await knock({ host: '127.0.0.1', port: server.port }, 1000), 'refused');
  });

  it('cannot tell where a connection would go elsewhere than the config’s host and port', async () => {
    const server = await listening();
    try {
      const port = server.port;
      for (const config of [
        { host: '/var/run/postgresql', port },
        { host: '127.0.0.1', port, dialectOptions: { socketPath: '/tmp/mysql.sock' } },
        { host: '127.0.0.1', port, dialectOptions: { stream: {} } },
        { host: '127.0.0.1', port, dialectOptions: { host: 'replica.internal' } },
        { host: '127.0.0.1', port, dialectOptions: { port: port + 1 } },
        { host: '127.0.0.1', port: 'not a port' },
        { port },
      ]) {
        assert.equal(await knock(config, 1000), 'unknown', JSON.stringify(config));
      }
    } finally {
      await server.close();
    }
  });

  it('gives up on a server that does not answer within its bound', async () => {
    // A listener that never accepts, its backlog filled: the kernel drops further SYNs, as for
    // a frozen server. (Node accepts by itself: a Python socket does not.)
    const python = spawn('python3', ['-c', HELD_BACKLOG], { stdio: ['ignore', 'pipe', 'inherit'] });
    const held: Socket[] = [];
    try {
      const port = await new Promise<number>((resolve, reject) => {
        python.stdout.once('data', (data: Buffer) => resolve(Number(String(data).trim())));
        python.once('error', reject);
      });
      // Fills the backlog of one.
      assert.equal(await knock({ host: '127.0.0.1', port }, 1000), 'open');
      held.push(connect(port, '127.0.0.1').on('error', () => {}));
      const started = Date.now();
      assert.equal(await knock({ host: '127.0.0.1', port }, 300), 'unknown');
      const took = Date.now() - started;
      assert.ok(took >= 290 && took < 2000, `took ${took} ms`);
    } finally {
      for (const socket of held) socket.destroy();
      python.kill();
    }
  });
});
