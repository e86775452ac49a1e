/**
 * Proves test/support/fault-proxy.ts against a real PostgreSQL: every fault
 * must be observable both from the client (how pg surfaces it) and, where it
 * matters, from the server (did the statement run or not).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultProxy } from '../support/fault-proxy.js';
import { SUPERUSER, SUPERUSER_PASSWORD, TestServer, freePort } from '../support/postgres.js';

// pg ships no type declarations and @types/pg is not a dependency, so describe
// the small part of it these tests use.
interface PgClient {
  connect(): Promise<void>;
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: Row[] }>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
}
interface PgClientConfig {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  connectionTimeoutMillis?: number;
}
interface PgModule {
  Client: new (config: PgClientConfig) => PgClient;
}
/**
 * import() with a non-literal specifier is left untyped by TypeScript under
 * every module setting, so the declared shape above is what the tests see.
 * Works whether this file runs as CommonJS or ESM.
 */
async function importDefault<T>(name: string): Promise<T> {
  const mod = (await import(name)) as { default: T };
  return mod.default;
}

type ConnError = Error & { code?: string };

let Pg: PgModule;
let server: TestServer | undefined;
let db: { host: string; port: number; user: string; password: string; database: string };
let direct: PgClient;
const openClients = new Set<PgClient>();

/** A pg client through `proxy`; idle-connection errors are recorded, not thrown. */
async function connectVia(proxy: FaultProxy): Promise<{ client: PgClient; idleErrors: ConnError[] }> {
  const client = new Pg.Client({ ...db, host: proxy.host, port: proxy.port, connectionTimeoutMillis: 5000 });
  const idleErrors: ConnError[] = [];
  // Without a listener pg's 'error' on a dead idle connection would crash the run.
  client.on('error', (err) => idleErrors.push(err));
  openClients.add(client);
  await client.connect();
  return { client, idleErrors };
}

/** Rejects with the error pg raised; fails the test if `promise` resolves. */
async function failure(promise: Promise<unknown>): Promise<ConnError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Error, 'pg should reject with an Error');
    return err;
  }
  assert.fail('expected the operation to fail');
}

function assertReset(err: ConnError): void {
  assert.equal(err.code, 'ECONNRESET', `expected ECONNRESET, got ${err.code}: ${err.message}`);
}

function assertTerminated(err: ConnError): void {
  assert.match(err.message, /Connection terminated/, `got ${err.code}: ${err.message}`);
}

async function countTag(tag: string): Promise<number> {
  const { rows } = await direct.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE tag = $1`, [tag]);
  return rows[0]!.n;
}

/** Poll until `check` returns true; the server may still be working after the client gave up. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

// Per-run name: with DATABASE_URL the server may be shared.
const table = `fault_proxy_items_${process.pid}`;
let tagSeq = 0;
const newTag = (): string => `t${process.pid}_${++tagSeq}`;

before(async () => {
  Pg = await importDefault<PgModule>('pg');

  const url = process.env['DATABASE_URL'];
  if (url) {
    const u = new URL(url);
    db = {
      host: u.hostname,
      port: Number(u.port || 5432),
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      database: decodeURIComponent(u.pathname.slice(1)) || 'postgres',
    };
  } else {
    server = await TestServer.start();
    db = { host: '127.0.0.1', port: server.port, user: SUPERUSER, password: SUPERUSER_PASSWORD, database: 'postgres' };
  }
  direct = new Pg.Client(db);
  direct.on('error', () => {});
  await direct.connect();
  await direct.query(`CREATE TABLE IF NOT EXISTS ${table} (id serial PRIMARY KEY, tag text NOT NULL)`);
});

after(async () => {
  for (const client of openClients) await client.end().catch(() => {});
  await direct?.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
  await direct?.end().catch(() => {});
  await server?.destroy();
});

describe('FaultProxy', { timeout: 20_000 }, () => {
  let proxy: FaultProxy;
  const target = (): { host: string; port: number } => ({ host: db.host, port: db.port });

  describe('with no delay', () => {
    before(async () => {
      proxy = await FaultProxy.start({ target: target() });
    });
    after(async () => {
      await proxy.close();
    });

    it('passes queries through and counts connections', async () => {
      const acceptedBefore = proxy.acceptedCount;
      const { client } = await connectVia(proxy);
      const { rows } = await client.query<{ sum: number }>('SELECT 1 + 1 AS sum');
      assert.equal(rows[0]!.sum, 2);
      assert.equal(proxy.acceptedCount, acceptedBefore + 1);
      assert.equal(proxy.connectionCount, 1);
      await client.end();
      await eventually(async () => proxy.connectionCount === 0, 'client close reaches the proxy');
    });

    it('resetAll(): RSTs idle connections', async () => {
      const { client, idleErrors } = await connectVia(proxy);
      await client.query('SELECT 1');
      proxy.resetAll();
      await eventually(async () => idleErrors.length > 0, 'pg notices the RST');
      assertReset(idleErrors[0]!);
      // pg emits ECONNRESET, then "Connection terminated unexpectedly", and
      // refuses further queries on the broken client.
      const err = await failure(client.query('SELECT 1'));
      assert.match(err.message, /not queryable/);
      assert.equal(proxy.connectionCount, 0);
    });

    it("arm('INSERT', 'swallow-reply'): the write runs exactly once, the client gets an error", async () => {
      const tag = newTag();
      const { client } = await connectVia(proxy);
      proxy.arm('INSERT', 'swallow-reply');
      // Non-matching statements are untouched.
      await client.query('SELECT 1');
      const err = await failure(client.query(`INSERT INTO ${table} (tag) VALUES ('${tag}')`));
      assertTerminated(err);
      assert.equal(await countTag(tag), 1, 'the swallowed INSERT must have run');

      // times defaults to 1: the next INSERT goes through normally.
      const { client: second } = await connectVia(proxy);
      await second.query(`INSERT INTO ${table} (tag) VALUES ('${tag}')`);
      assert.equal(await countTag(tag), 2);
    });

    it("arm('INSERT', 'reset'): the write never reaches the server", async () => {
      const tag = newTag();
      const { client } = await connectVia(proxy);
      proxy.arm(new RegExp(`insert into ${table}`, 'i'), 'reset');
      const err = await failure(client.query(`INSERT INTO ${table} (tag) VALUES ('${tag}')`));
      assertReset(err);
      // Give a wrongly-forwarded INSERT time to land before concluding it didn't.
      await sleep(100);
      assert.equal(await countTag(tag), 0);
    });

    it('arm(…, { times: 2 }) fires on two chunks across connections; disarm() clears', async () => {
      const tag = newTag();
      const a = await connectVia(proxy);
      const b = await connectVia(proxy);
      const c = await connectVia(proxy);
      proxy.arm(tag, 'reset', { times: 2 });
      assertReset(await failure(a.client.query(`SELECT '${tag}'`)));
      assertReset(await failure(b.client.query(`SELECT '${tag}'`)));
      await c.client.query(`SELECT '${tag}'`);

      proxy.arm(tag, 'reset');
      proxy.disarm();
      await c.client.query(`SELECT '${tag}'`);
    });

    it("arm('INSERT', 'cut-after-send'): client sees a clean close, the statement still reaches the server", async () => {
      const tag = newTag();
      const { client } = await connectVia(proxy);
      proxy.arm('INSERT', 'cut-after-send');
      const err = await failure(client.query(`INSERT INTO ${table} (tag) VALUES ('${tag}')`));
      // FIN, not RST: pg reports the end of stream rather than ECONNRESET.
      assertTerminated(err);
      assert.notEqual(err.code, 'ECONNRESET');
      // The client learns before the server has necessarily finished.
      await eventually(async () => (await countTag(tag)) === 1, 'forwarded INSERT lands');
      await sleep(50);
      assert.equal(await countTag(tag), 1);
    });

    it('cutAll(): FIN-closes idle connections', async () => {
      const { client, idleErrors } = await connectVia(proxy);
      proxy.cutAll();
      await eventually(async () => idleErrors.length > 0, 'pg notices the FIN');
      assertTerminated(idleErrors[0]!);
      assert.ok(!idleErrors.some((e) => e.code === 'ECONNRESET'), 'a FIN, not an RST');
      await eventually(async () => proxy.connectionCount === 0, 'connection closed');
      await failure(client.query('SELECT 1'));
    });

    it('forgetAll(): silent now, RST on next use, server backend gone', async () => {
      const { client, idleErrors } = await connectVia(proxy);
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]!.pid;
      proxy.forgetAll();
      await eventually(async () => {
        const r = await direct.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid]);
        return r.rows[0]!.n === 0;
      }, 'server backend exits');
      // The client heard nothing: the connection still looks healthy.
      assert.equal(idleErrors.length, 0);
      assert.equal(proxy.connectionCount, 1);

      const err = await failure(client.query('SELECT 1'));
      assertReset(err);
      await eventually(async () => proxy.connectionCount === 0, 'forgotten connection closed');
    });

    it('blackHoleAll(): deaf to later resets, cuts, forgets and a terminated backend; only closeStranded() ends it', async () => {
      const { client, idleErrors } = await connectVia(proxy);
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]!.pid;
      proxy.blackHoleAll();
      let settled = false;
      const stuck = failure(client.query('SELECT 1')).finally(() => (settled = true));
      proxy.resetAll();
      proxy.cutAll();
      proxy.forgetAll();
      await direct.query('SELECT pg_terminate_backend($1)', [pid]);
      await eventually(async () => {
        const r = await direct.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid]);
        return r.rows[0]!.n === 0;
      }, 'server backend exits');
      // The backend's FIN would have been relayed at once: give it a few round trips to show up.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(settled, false, 'the statement on the black hole settled');
      assert.equal(idleErrors.length, 0);
      proxy.closeStranded();
      assertTerminated(await stuck);
      await eventually(async () => proxy.connectionCount === 0, 'black hole closed');
    });

    it("arm(…, 'black-hole-after-send'): the statement runs, its answer never comes, later faults pass it by", async () => {
      const { client } = await connectVia(proxy);
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]!.pid;
      proxy.arm('black_hole_marker', 'black-hole-after-send');
      let settled = false;
      const stuck = failure(client.query("SELECT 'black_hole_marker' AS m")).finally(() => (settled = true));
      await eventually(async () => {
        const r = await direct.query<{ query: string; state: string }>('SELECT query, state FROM pg_stat_activity WHERE pid = $1', [pid]);
        return r.rows[0]?.state === 'idle' && r.rows[0].query.includes('black_hole_marker');
      }, 'the statement ran on the server');
      proxy.resetAll();
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(settled, false, 'the answer or a reset reached the client');
      proxy.closeStranded();
      assertTerminated(await stuck);
    });

    it('refuse()/accept(): new connections get an RST, existing ones keep working', async () => {
      const { client: existing } = await connectVia(proxy);
      proxy.refuse();
      const refusedBefore = proxy.refusedCount;
      // The RST beats the connect completion: pg reports "connect ECONNRESET".
      assertReset(await failure(connectVia(proxy)));
      assert.equal(proxy.refusedCount, refusedBefore + 1);
      await existing.query('SELECT 1');
      proxy.accept();
      const { client } = await connectVia(proxy);
      await client.query('SELECT 1');
    });

    it('refuse(ms): refusal expires on its own', async () => {
      proxy.refuse(150);
      assertReset(await failure(connectVia(proxy)));
      await sleep(200);
      const { client } = await connectVia(proxy);
      await client.query('SELECT 1');
    });

    it('setTarget(): new connections follow, existing ones stay; unreachable target → RST', async () => {
      const { client: existing } = await connectVia(proxy);
      proxy.setTarget({ host: '127.0.0.1', port: await freePort() });
      assertReset(await failure(connectVia(proxy)));
      await existing.query('SELECT 1');
      proxy.setTarget(target());
      const { client } = await connectVia(proxy);
      await client.query('SELECT 1');
    });
  });

  describe('with delayMs = 30', () => {
    before(async () => {
      proxy = await FaultProxy.start({ target: target(), delayMs: 30 });
    });
    after(async () => {
      await proxy.close();
    });

    it('adds latency each way and keeps large replies intact', async () => {
      const { client } = await connectVia(proxy);
      const started = performance.now();
      await client.query('SELECT 1');
      assert.ok(performance.now() - started >= 60, 'a round trip crosses the delay twice');

      // Many chunks through the delay queue must arrive in order.
      const { rows } = await client.query<{ s: string }>(
        "SELECT string_agg(lpad(i::text, 7, '0'), '') AS s FROM generate_series(1, 100000) AS i",
      );
      const expected = Array.from({ length: 100000 }, (_, i) => String(i + 1).padStart(7, '0')).join('');
      assert.ok(rows[0]!.s === expected, 'reply reassembled in order');
    });

    it('delays closes in order with data', async () => {
      // A raw echo server makes the FIN observable independently of pg.
      const echo = createServer((socket) => {
        socket.on('error', () => {});
        socket.pipe(socket);
      });
      await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
      const address = echo.address();
      assert.ok(address !== null && typeof address === 'object');
      const echoProxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: address.port }, delayMs: 30 });
      try {
        const socket: Socket = connect(echoProxy.port, echoProxy.host);
        socket.on('error', () => {});
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        const received: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => received.push(chunk));
        const started = performance.now();
        const ended = new Promise<number>((resolve) => socket.once('end', () => resolve(performance.now() - started)));
        socket.write('a');
        socket.write('b');
        socket.end('c');
        const elapsed = await ended;
        assert.equal(Buffer.concat(received).toString(), 'abc', 'all data arrives before the FIN');
        assert.ok(elapsed >= 60, `FIN came back after ${elapsed} ms, expected ≥ 60`);
      } finally {
        await echoProxy.close();
        await new Promise<void>((resolve) => echo.close(() => resolve()));
      }
    });

    it("arm('INSERT', 'swallow-reply') works through the delay", async () => {
      const tag = newTag();
      const { client } = await connectVia(proxy);
      proxy.arm('INSERT', 'swallow-reply');
      assertTerminated(await failure(client.query(`INSERT INTO ${table} (tag) VALUES ('${tag}')`)));
      assert.equal(await countTag(tag), 1);
    });
  });

  describe('with idleTimeoutMs', () => {
    it('closes a connection idle in both directions, like HAProxy; traffic keeps it open', async () => {
      const idleProxy = await FaultProxy.start({ target: target(), idleTimeoutMs: 150 });
      try {
        const { client, idleErrors } = await connectVia(idleProxy);
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        // Queries closer together than the timeout keep the connection.
        for (let i = 0; i < 6; i++) {
          await sleep(60);
          await client.query('SELECT 1');
        }
        assert.equal(idleProxy.idleClosedCount, 0);
        assert.equal(idleErrors.length, 0);

        await eventually(async () => idleErrors.length > 0, 'pg notices the idle close');
        assertTerminated(idleErrors[0]!);
        assert.equal(idleProxy.idleClosedCount, 1);
        await eventually(async () => {
          const r = await direct.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [rows[0]!.pid]);
          return r.rows[0]!.n === 0;
        }, 'server backend exits');
        await eventually(async () => idleProxy.connectionCount === 0, 'link released');
      } finally {
        await idleProxy.close();
      }
    });

    it('with delay, a statement sent after the idle close but before its FIN arrives gets an RST and never runs', async () => {
      const idleProxy = await FaultProxy.start({ target: target(), idleTimeoutMs: 400, delayMs: 150 });
      try {
        const tag = newTag();
        const { client, idleErrors } = await connectVia(idleProxy);
        await client.query('SELECT 1');
        await eventually(async () => idleProxy.idleClosedCount === 1, 'idle timeout fires');
        // The FIN is still up to 150 ms away (the timeout must exceed a round trip, or the
        // handshake itself would time out): the client believes the connection is fine.
        assert.equal(idleErrors.length, 0);
        assertReset(await failure(client.query(`INSERT INTO ${table} (tag) VALUES ('${tag}')`)));
        await sleep(100);
        assert.equal(await countTag(tag), 0);
      } finally {
        await idleProxy.close();
      }
    });
  });

  it('close(): drops every connection and stops listening', async () => {
    const closing = await FaultProxy.start({ target: target() });
    const a = await connectVia(closing);
    const b = await connectVia(closing);
    assert.equal(closing.connectionCount, 2);
    await closing.close();
    assert.equal(closing.connectionCount, 0);
    await eventually(async () => a.idleErrors.length > 0 && b.idleErrors.length > 0, 'clients notice');
    const err = await failure(connectVia(closing));
    assert.equal(err.code, 'ECONNREFUSED');
  });
});
