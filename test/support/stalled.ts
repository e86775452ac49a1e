import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { it } from 'node:test';
import { QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, type AutoReconnectOptions } from '../../src';
import { outcome } from './fixture';
import { until } from './workload';

/**
 * A listener that accepts TCP and never answers (nothing behind it reads or writes), until
 * `answer()` pipes every socket, held or new, to a real server. Counts what it accepted and
 * what is still open.
 */
export class StalledListener {
  accepted = 0;
  private readonly open = new Set<Socket>();
  /** What each client sent while nothing answered: read (a paused socket would never see its close), kept for the server. */
  private readonly sent = new Map<Socket, Buffer[]>();
  private target: { host: string; port: number } | undefined;

  private constructor(private readonly server: ReturnType<typeof createServer>) {
    server.on('connection', (socket) => {
      this.accepted++;
      this.open.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => this.open.delete(socket));
      if (this.target) {
        this.pipe(socket, this.target);
        return;
      }
      const sent: Buffer[] = [];
      this.sent.set(socket, sent);
      socket.on('data', (chunk: Buffer) => sent.push(chunk));
    });
  }

  static async start(): Promise<StalledListener> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return new StalledListener(server);
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Sockets the clients have not closed. */
  get openSockets(): number {
    return this.open.size;
  }

  answer(target: { host: string; port: number }): void {
    this.target = target;
    for (const socket of this.open) this.pipe(socket, target);
  }

  /** New sockets are held again; those piped already stay piped. */
  stall(): void {
    this.target = undefined;
  }

  private pipe(socket: Socket, target: { host: string; port: number }): void {
    const upstream = connect(target.port, target.host);
    socket.removeAllListeners('data');
    for (const chunk of this.sent.get(socket) ?? []) upstream.write(chunk);
    this.sent.delete(socket);
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  }

  async close(): Promise<void> {
    for (const socket of this.open) socket.destroy();
    this.server.close();
    await once(this.server, 'close');
  }
}

/** Makes an instance on `port` of 127.0.0.1 (`plugin: false`: bare Sequelize). */
export type MakeInstance = (port: number, plugin: AutoReconnectOptions | false) => Promise<Sequelize>;

const SLACK_MS = 250;
const select = (sequelize: Sequelize) => sequelize.query('SELECT 1 AS n', { type: QueryTypes.SELECT });

/** The connect-timeout tests, for one dialect; `server` is where a recovered listener pipes to. */
export function stalledConnectTests(make: MakeInstance, server: () => { host: string; port: number }): void {
  it('fails a connect to a listener that never answers within deadlineMs, where bare Sequelize still waits', async () => {
    const [stalled, stalledBare] = await Promise.all([StalledListener.start(), StalledListener.start()]);
    // 1500 ms per attempt, the deadline counted from the first attempt's start: attempts at
    // 0, ~1.5 s and ~3 s, the last cut by the deadline at 4 s.
    const plugin = { connectTimeoutMs: 1500, deadlineMs: 4000, retries: 10, backoff: { baseMs: 10, maxMs: 10 } };
    const [sequelize, bare] = await Promise.all([make(stalled.port, plugin), make(stalledBare.port, false)]);
    try {
      // How late this process's timers ran meanwhile (a loaded machine): added to the slack.
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      const started = Date.now();
      const bareQuery = outcome(select(bare));
      const result = await outcome(select(sequelize));
      const elapsed = Date.now() - started;
      lag.disable();
      const lagMs = Math.round(lag.max / 1e6);
      console.log(`# stalled connect failed after ${elapsed} ms, ${stalled.accepted} attempts`);
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
      assert.equal(result.error.phase, 'connect');
      assert.equal(result.error.reason, 'deadline-exceeded');
      // Twice the slack: three attempts' setup and teardown (the connector's, Sequelize's) run on a
      // CPU a loaded machine shares, which the timers' lag does not show (under test:stress,
      // 4390-4467 ms with timers at most 52-109 ms late; 4015-4200 ms otherwise).
      const bound = 4000 + 2 * SLACK_MS + lagMs;
      assert.ok(elapsed >= 3900 && elapsed <= bound, `failed after ${elapsed} ms (timers up to ${lagMs} ms late)`);
      assert.equal(stalled.accepted, 3);
      // Every attempt's socket was destroyed: none left open on the listener.
      await until('the abandoned sockets to close', () => stalled.openSockets === 0, 1000);
      // Bare Sequelize, against the same kind of listener, is still waiting.
      const waitMore = 4500 - (Date.now() - started);
      const still = await Promise.race([bareQuery.then(() => 'settled'), new Promise((r) => setTimeout(r, waitMore, 'pending'))]);
      assert.equal(still, 'pending', 'bare Sequelize gave up on its own');
      assert.equal(stalledBare.openSockets, 1);
    } finally {
      await Promise.all([stalled.close(), stalledBare.close()]);
      await Promise.all([sequelize.close(), bare.close()]);
    }
  });

  it('succeeds once a listener that did not answer starts answering', async () => {
    const stalled = await StalledListener.start();
    const plugin = { connectTimeoutMs: 1000, deadlineMs: 4000, retries: 10, backoff: { baseMs: 10, maxMs: 10 } };
    const sequelize = await make(stalled.port, plugin);
    const recover = setTimeout(() => stalled.answer(server()), 1500);
    try {
      const started = Date.now();
      const result = await outcome(select(sequelize));
      const elapsed = Date.now() - started;
      console.log(`# recovered after ${elapsed} ms, ${stalled.accepted} attempts`);
      assert.ok(result.ok, !result.ok ? result.error.message : '');
      assert.deepEqual(result.value, [{ n: 1 }]);
      assert.ok(elapsed >= 1500 && elapsed < 4000, `took ${elapsed} ms`);
      // One attempt timed out at 1 s, the next one was answered; then the pool's own connection
      // (Sequelize's first query learns the server's version on a connection of its own).
      assert.equal(stalled.accepted, 3);
    } finally {
      clearTimeout(recover);
      await sequelize.close();
      await stalled.close();
    }
  });

  it('bounds a first attempt by deadlineMs when that is shorter than connectTimeoutMs', async () => {
    const stalled = await StalledListener.start();
    const sequelize = await make(stalled.port, { deadlineMs: 1000, retries: 10 });
    try {
      const started = Date.now();
      const result = await outcome(select(sequelize));
      const elapsed = Date.now() - started;
      console.log(`# stalled first connect (deadlineMs 1000) failed after ${elapsed} ms`);
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
      assert.equal(result.error.reason, 'deadline-exceeded');
      assert.ok(elapsed >= 950 && elapsed <= 1000 + SLACK_MS, `failed after ${elapsed} ms`);
      assert.equal(stalled.accepted, 1);
      await until('the abandoned socket to close', () => stalled.openSockets === 0, 1000);
    } finally {
      await sequelize.close();
      await stalled.close();
    }
  });

  it('bounds a new pooled connection the same way, once the instance has been working', async () => {
    const stalled = await StalledListener.start();
    stalled.answer(server());
    const plugin = { connectTimeoutMs: 800, deadlineMs: 2000, retries: 10, backoff: { baseMs: 10, maxMs: 10 } };
    const sequelize = await make(stalled.port, plugin);
    let transaction: Awaited<ReturnType<Sequelize['transaction']>> | undefined;
    try {
      // Holds the pooled connection, so that the next statement needs a new one.
      transaction = await sequelize.transaction();
      stalled.stall();
      const [accepted, open] = [stalled.accepted, stalled.openSockets];
      const started = Date.now();
      const result = await outcome(select(sequelize));
      const elapsed = Date.now() - started;
      console.log(`# stalled pooled connect failed after ${elapsed} ms, ${stalled.accepted - accepted} attempts`);
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, !result.ok ? result.error.message : 'resolved');
      assert.equal(result.error.phase, 'connect');
      assert.ok(elapsed >= 1900 && elapsed <= 2000 + SLACK_MS, `failed after ${elapsed} ms`);
      // Attempts at 0, 0.8 and 1.6 s; on a loaded machine each retry starts later (its setup
      // shares the CPU), and the deadline can leave no room for a third.
      const attempts = stalled.accepted - accepted;
      assert.ok(attempts === 2 || attempts === 3, `${attempts} attempts`);
      await until('the abandoned sockets to close', () => stalled.openSockets === open, 1000);
    } finally {
      // Sequelize's close() waits for every borrowed connection: the transaction's goes back first.
      await transaction?.rollback().catch(() => {});
      await sequelize.close();
      await stalled.close();
    }
  });

  it('close() is not held by a new pooled connection whose login gets no answer: abandoned after a second', async () => {
    const stalled = await StalledListener.start();
    stalled.answer(server());
    const sequelize = await make(stalled.port, { connectTimeoutMs: 8000 });
    let closing: Promise<unknown> | undefined;
    try {
      // The pooled connection is held, the next statement makes the pool open another, and the
      // first is given back before that login ends: the statement is served by it, the login
      // goes on, and Sequelize's close() waits for every connection its pool is still opening.
      const transaction = await sequelize.transaction();
      stalled.stall();
      const accepted = stalled.accepted;
      const read = outcome(select(sequelize));
      await until('the new login to reach the listener', () => stalled.accepted === accepted + 1, 5000);
      await transaction.commit();
      const result = await read;
      assert.ok(result.ok, !result.ok ? result.error.message : '');
      const started = Date.now();
      closing = sequelize.close();
      const closed = await Promise.race([closing.then(() => 'closed'), new Promise((r) => setTimeout(r, 4000, 'pending'))]);
      const elapsed = Date.now() - started;
      console.log(`# close() with a login that got no answer: ${elapsed} ms`);
      assert.equal(closed, 'closed', 'close() still pending 4 s later (the connect timeout is 8 s)');
      assert.ok(elapsed >= 900 && elapsed < 2500, `close() took ${elapsed} ms`);
      await until('the abandoned socket to close', () => stalled.openSockets === 0, 1000);
    } finally {
      await (closing ?? sequelize.close());
      await stalled.close();
    }
  });
}
