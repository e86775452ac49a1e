/**
 * A connection that dies without a word under a running statement (a proxy that stops
 * forwarding both ways and closes nothing): the watchdog asks the server on a separate
 * connection, cuts the connection whose answer was lost, and never cuts a healthy long query.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { admin, adminUrl, countingSilenceChecks, testSequelize, uniqueAppName } from '../support/db';
import { fixture, outcome, waitForActiveQuery, within, type Fixture } from '../support/fixture';
import { TestServer } from '../support/postgres';
import { uncaughtDuring } from '../support/transparency/errors';

/** Starts `run` and mutes the proxy once its statement (`fragment`) is running on the server. */
async function silencedMidway<T>(f: Fixture, app: string, fragment: string, run: () => Promise<T>) {
  const result = outcome(run());
  await waitForActiveQuery(adminUrl(), app, fragment);
  f.proxy.muteAll();
  return { result, mutedAt: Date.now() };
}

describe('a connection that goes silent under a statement (PostgreSQL)', () => {
  let f: Fixture;
  const instances: Sequelize[] = [];
  const open = (app: string, plugin: Parameters<typeof testSequelize>[1]['plugin']) => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: app, plugin });
    instances.push(sequelize);
    return sequelize;
  };
  before(async () => {
    f = await fixture();
  });
  after(async () => {
    f.proxy.closeStranded();
    await f.close(...instances);
  });

  it('recovers a read on a new connection within silenceMs and one recovery', async () => {
    const app = f.appName('silent-read');
    const sequelize = open(app, { silenceMs: 2000 });
    const { result, mutedAt } = await silencedMidway(f, app, 'pg_sleep(0.3)', () =>
      sequelize.query('SELECT pg_sleep(0.3) AS slept, 42 AS answer', { type: QueryTypes.SELECT }),
    );
    const settled = await within(result, 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.notEqual(settled, 'pending', 'the read still hangs 10 s after the silence');
    assert.deepEqual(settled !== 'pending' && settled.ok && settled.value, [{ slept: '', answer: 42 }]);
    assert.ok(elapsed < 6000, `recovered ${elapsed} ms after the silence`);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.disconnects, 1);
    assert.equal(stats.retriesSucceeded, 1);
    console.log(`# silent read recovered ${elapsed} ms after the silence`);
  });

  it('watches the read run again too: a replacement that goes silent as well is found, and the read recovers on a third', async () => {
    const app = f.appName('silent-twice');
    // A deadline far past two detections: what ends the second silence is the watchdog, not the deadline.
    const sequelize = open(app, { silenceMs: 2000, retries: 3, deadlineMs: 30_000 });
    // The statement's first run and its retry each reach the server, then their connections go silent.
    f.proxy.arm('silent_twice_marker', 'black-hole-after-send', { times: 2 });
    const started = Date.now();
    const result = outcome(sequelize.query('SELECT 44 AS silent_twice_marker', { type: QueryTypes.SELECT }));
    const settled = await within(result, 15_000);
    const elapsed = Date.now() - started;
    assert.notEqual(settled, 'pending', 'the read still hangs 15 s later');
    assert.ok(
      settled !== 'pending' && settled.ok,
      settled !== 'pending' && !settled.ok ? `${settled.error.name}: ${settled.error.message}` : '',
    );
    assert.deepEqual(settled.value, [{ silent_twice_marker: 44 }]);
    // Two detections (silenceMs + up to a tick + the check each) and two recoveries: about 6-8 s.
    assert.ok(elapsed < 12_000, `recovered after ${elapsed} ms`);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.disconnects, 2);
    assert.equal(stats.retriesSucceeded, 1);
    console.log(`# read silenced twice recovered after ${elapsed} ms`);
  });

  it('counts a server the check cannot reach either as a lost session, and recovers the read once it is back', async () => {
    const app = f.appName('silent-unreachable');
    const sequelize = open(app, { retries: 20, silenceMs: 2000 });
    const { result, mutedAt } = await silencedMidway(f, app, 'pg_sleep(0.3)', () =>
      sequelize.query('SELECT pg_sleep(0.3) AS slept, 43 AS answer', { type: QueryTypes.SELECT }),
    );
    f.proxy.refuse(3000);
    const settled = await within(result, 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.deepEqual(settled !== 'pending' && settled.ok && settled.value, [{ slept: '', answer: 43 }]);
    assert.ok(elapsed >= 2000 && elapsed < 6000, `recovered ${elapsed} ms after the silence`);
    assert.equal(getReconnectStats(sequelize).disconnects, 1);
  });

  it('reports a write as mayHaveExecuted, and it ran at most once', async () => {
    const app = f.appName('silent-write');
    const sequelize = open(app, { silenceMs: 2000 });
    const tag = `silent-${app}`;
    const { result, mutedAt } = await silencedMidway(f, app, 'pg_sleep(0.3)', () =>
      sequelize.query(`INSERT INTO items (tag) SELECT '${tag}' FROM pg_sleep(0.3)`),
    );
    const settled = await within(result, 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.ok(settled !== 'pending' && !settled.ok, 'the write is rejected');
    assert.ok(settled.error instanceof ConnectionLostError, String(settled.error));
    assert.equal(settled.error['mayHaveExecuted'], true);
    assert.ok(elapsed < 6000, `reported ${elapsed} ms after the silence`);
    assert.ok((await f.count(tag)) <= 1, 'the write ran twice');
    console.log(`# silent write reported ${elapsed} ms after the silence`);
  });

  it('settles a verified write silenced before its COMMIT: retried, the row exists once, the call succeeds', async () => {
    const app = f.appName('silent-verified');
    const sequelize = open(app, { retryWrites: 'verified' });
    const tag = `silent-${app}`;
    const { result, mutedAt } = await silencedMidway(f, app, 'pg_sleep(0.3)', () =>
      sequelize.query(`INSERT INTO items (tag) SELECT '${tag}' FROM pg_sleep(0.3)`, { type: QueryTypes.INSERT }),
    );
    const settled = await within(result, 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.ok(
      settled !== 'pending' && settled.ok,
      `the verified write: ${settled === 'pending' ? 'still pending' : String(!settled.ok && settled.error)}`,
    );
    assert.ok(elapsed < 6000, `settled ${elapsed} ms after the silence`);
    assert.equal(await f.count(tag), 1);
    assert.equal(getReconnectStats(sequelize).disconnects, 1);
  });

  it('settles a replayable transaction whose COMMIT went silent: committed once, the call succeeds', async () => {
    const app = f.appName('silent-commit');
    const sequelize = open(app, { replayTransactions: true });
    const tag = `silent-${app}`;
    // COMMIT runs a deferred trigger that takes a while: the silence falls inside it.
    await admin(f.url, async (c) => {
      await c.query(`CREATE OR REPLACE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(0.5); RETURN NULL; END $$`);
      await c.query('CREATE TABLE IF NOT EXISTS slow_items (tag text NOT NULL)');
      await c.query(
        'CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON slow_items DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()',
      );
    });
    let attempts = 0;
    const { result, mutedAt } = await silencedMidway(f, app, 'COMMIT', () =>
      sequelize.transaction(async (transaction) => {
        attempts++;
        await sequelize.query(`INSERT INTO slow_items (tag) VALUES ('${tag}')`, { type: QueryTypes.INSERT, transaction });
      }),
    );
    const settled = await within(result, 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.ok(
      settled !== 'pending' && settled.ok,
      `the transaction: ${settled === 'pending' ? 'still pending' : String(!settled.ok && settled.error)}`,
    );
    assert.ok(elapsed < 7000, `settled ${elapsed} ms after the silence`);
    const count = await admin(f.url, async (c) => {
      const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM slow_items WHERE tag = $1', [tag]);
      return rows[0]!.n;
    });
    assert.equal(count, 1);
    assert.equal(attempts, 1, 'a committed transaction was replayed');
    assert.equal(getReconnectStats(sequelize).commitsSettled, 1);
  });

  it('reports a transaction whose statement went silent as lost', async () => {
    const app = f.appName('silent-transaction');
    const sequelize = open(app, { silenceMs: 2000 });
    const transaction = await sequelize.transaction();
    const { result, mutedAt } = await silencedMidway(f, app, 'pg_sleep(0.3)', () =>
      sequelize.query('SELECT pg_sleep(0.3) AS slept', { type: QueryTypes.SELECT, transaction }),
    );
    const settled = await within(result, 10_000);
    const elapsed = Date.now() - mutedAt;
    assert.ok(settled !== 'pending' && !settled.ok, 'the statement is rejected');
    assert.ok(settled.error instanceof ConnectionLostError, String(settled.error));
    assert.equal(settled.error['transactionLost'], true);
    assert.ok(elapsed < 6000, `reported ${elapsed} ms after the silence`);
    await within(
      transaction.rollback().catch(() => {}),
      5000,
    );
  });

  it('recovers the next read on a pooled connection that went silent while idle', async () => {
    const app = f.appName('silent-idle-read');
    // Validation off, so that the watchdog, not a check on acquire, finds the dead connection.
    const sequelize = testSequelize(f.proxiedUrl, { appName: app, pool: { max: 1 }, plugin: { validateIdleMs: false } });
    instances.push(sequelize);
    await sequelize.query('SELECT 1');
    f.proxy.muteAll();
    const started = Date.now();
    const settled = await within(outcome(sequelize.query('SELECT 44 AS answer', { type: QueryTypes.SELECT })), 10_000);
    const elapsed = Date.now() - started;
    assert.notEqual(settled, 'pending', 'the read still hangs 10 s after it started');
    assert.deepEqual(settled !== 'pending' && settled.ok ? settled.value : settled, [{ answer: 44 }]);
    // The default silenceMs (2 s) first, then one recovery.
    assert.ok(elapsed >= 2000 && elapsed < 6000, `recovered ${elapsed} ms after the read started`);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.disconnects, 1);
    assert.equal(stats.retriesSucceeded, 1);
    console.log(`# idle silent death: the next read recovered ${elapsed} ms after it started`);
  });

  it('reports the next write on a pooled connection that went silent while idle as mayHaveExecuted, run at most once', async () => {
    const app = f.appName('silent-idle-write');
    const sequelize = testSequelize(f.proxiedUrl, { appName: app, pool: { max: 1 }, plugin: { validateIdleMs: false } });
    instances.push(sequelize);
    const tag = `silent-${app}`;
    await sequelize.query('SELECT 1');
    f.proxy.muteAll();
    const started = Date.now();
    const settled = await within(outcome(sequelize.query(`INSERT INTO items (tag) VALUES ('${tag}')`)), 10_000);
    const elapsed = Date.now() - started;
    assert.ok(settled !== 'pending' && !settled.ok, `the write: ${settled === 'pending' ? 'still pending' : 'resolved'}`);
    assert.ok(settled.error instanceof ConnectionLostError, String(settled.error));
    assert.equal(settled.error['mayHaveExecuted'], true);
    assert.ok(elapsed < 6000, `reported ${elapsed} ms after the write started`);
    const rows = await f.count(tag);
    assert.ok(rows <= 1, `the write ran ${rows} times`);
    assert.equal(getReconnectStats(sequelize).disconnects, 1);
    console.log(`# idle silent death: the next write reported ${elapsed} ms after it started; ${rows} row`);
  });

  /** Runs `sql` (silenceMs 1000), counting the watchdog's questions to the server about it. */
  async function runCountingChecks(app: string, sql: string): Promise<{ result: unknown; checks: number; elapsed: number }> {
    const sequelize = open(app, { silenceMs: 1000 });
    const started = Date.now();
    const type = sql.startsWith('SELECT') ? QueryTypes.SELECT : QueryTypes.RAW;
    const { value: result, checks } = await countingSilenceChecks(() => sequelize.query(sql, { type }));
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.retries, 0);
    assert.equal(stats.disconnects, 0);
    return { result, checks, elapsed: Date.now() - started };
  }

  it('never cuts a healthy long query', async () => {
    // The query must have been checked, and found running.
    const { result, checks, elapsed } = await runCountingChecks(f.appName('long-query'), 'SELECT pg_sleep(4) AS slept, 7 AS answer');
    assert.ok(checks >= 2, `the watchdog asked ${checks} times`);
    assert.deepEqual(result, [{ slept: '', answer: 7 }]);
    assert.ok(elapsed >= 4000);
  });

  it('never cuts a long COPY, which sends nothing back until it ends', async () => {
    const { result, checks, elapsed } = await runCountingChecks(
      f.appName('long-copy'),
      "COPY (SELECT g, pg_sleep(1) FROM generate_series(1, 3) AS g) TO '/dev/null'",
    );
    assert.ok(checks >= 1, `the watchdog asked ${checks} times`);
    assert.ok(elapsed >= 3000);
    assert.equal((result as [unknown, { command?: string; rowCount?: number }])[1].rowCount, 3);
  });

  it('with the defaults, 8 readers on a pool of 6 all complete: the 6 silenced are cut after one check, the 2 waiting for a slot get one', async () => {
    const app = f.appName('silent-pool');
    const sequelize = testSequelize(f.proxiedUrl, { appName: app, pool: { max: 6 } });
    instances.push(sequelize);
    // Six statements held on the server by a lock the test holds (however slowly the pool's six
    // logins come on a loaded machine), two waiting for a pool slot; then every path goes quiet
    // and the lock is let go: the six answers go nowhere, their sessions go idle.
    const holder = new pg.Client({ connectionString: f.url });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock(4242)');
    const reads = Array.from({ length: 8 }, (_, i) =>
      outcome(sequelize.query(`SELECT pg_advisory_xact_lock_shared(4242)::text AS locked, ${i} AS worker`, { type: QueryTypes.SELECT })),
    );
    try {
      const waitingSince = Date.now();
      for (;;) {
        const { rows } = await holder.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
          [app],
        );
        if (rows[0]!.n === 6) break;
        assert.ok(Date.now() - waitingSince < 30_000, `only ${rows[0]!.n} of the 6 statements reached the server in 30 s`);
        await new Promise((r) => setTimeout(r, 10));
      }
    } catch (error) {
      await holder.end();
      throw error;
    }
    // The watchdog's checks, counted as they connect: the six found silent at one tick are asked about together.
    const connect = pg.Client.prototype.connect;
    let checks = 0;
    pg.Client.prototype.connect = function (this: pg.Client & { connectionParameters: { application_name?: string } }, ...args: unknown[]) {
      if (this.connectionParameters.application_name === 'sequelize-autoreconnect check') checks++;
      return (connect as (...a: unknown[]) => Promise<void>).apply(this, args);
    } as typeof connect;
    f.proxy.muteAll();
    const mutedAt = Date.now();
    await holder.query('SELECT pg_advisory_unlock(4242)');
    await holder.end();
    const settled = await within(Promise.all(reads), 10_000).finally(() => (pg.Client.prototype.connect = connect));
    const elapsed = Date.now() - mutedAt;
    assert.notEqual(settled, 'pending', 'some reads still hang 10 s after the silence');
    assert.equal(checks, 1, 'one check connection for the six statements silent together');
    const values = settled !== 'pending' ? settled.map((r) => (r.ok ? (r.value as Array<{ worker: number }>)[0]!.worker : r.error)) : [];
    assert.deepEqual(values, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(elapsed < 7000, `all 8 done ${elapsed} ms after the silence`);
    assert.equal(getReconnectStats(sequelize).disconnects, 6);
    console.log(`# 8 readers, pool of 6, silenced: all done ${elapsed} ms after the silence`);
  });

  it('abandons a check that logs in and gets no answer after silenceMs, and asks again: the read recovers well before the connect timeout', async () => {
    const app = f.appName('silent-check');
    // connectTimeoutMs stays 5 s: on the old code the unanswered check waited for all of it.
    const sequelize = open(app, { silenceMs: 1000 });
    f.proxy.arm('silent_check_marker', 'black-hole-after-send');
    f.proxy.arm('pg_stat_activity', 'black-hole-after-send', { times: 1 });
    const started = Date.now();
    const settled = await within(outcome(sequelize.query('SELECT 45 AS silent_check_marker', { type: QueryTypes.SELECT })), 15_000);
    const elapsed = Date.now() - started;
    assert.ok(settled !== 'pending' && settled.ok, settled === 'pending' ? 'pending 15 s later' : !settled.ok ? settled.error.message : '');
    assert.deepEqual(settled.value, [{ silent_check_marker: 45 }]);
    // silenceMs, the first check abandoned 1 s after its login, silenceMs more, a second check, one recovery: 3-4 s.
    assert.ok(elapsed < 5000, `recovered after ${elapsed} ms`);
    console.log(`# a check that got no answer: the read recovered after ${elapsed} ms`);
  });

  it('close() is not held by idle connections that went silent: their sockets go after a second, where bare Sequelize waits for good', async () => {
    for (const plugin of [false, {}] as const) {
      const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName('close-silent'), plugin, pool: { max: 3 } });
      const pause = () => sequelize.query('SELECT pg_sleep(0.05)', { type: QueryTypes.SELECT });
      await Promise.all([pause(), pause(), pause()]);
      // Three idle connections, each ended one after another by Sequelize's close(): they share the second.
      f.proxy.blackHoleAll();
      const started = Date.now();
      const { uncaught, value: closed } = await uncaughtDuring(() => within(sequelize.close(), 4000));
      const elapsed = Date.now() - started;
      f.proxy.closeStranded();
      assert.deepEqual(uncaught, []);
      if (plugin === false) {
        assert.equal(closed, 'pending', 'bare Sequelize waits for the silent connections to close');
        await sequelize.close();
        continue;
      }
      assert.notEqual(closed, 'pending', 'close() still pending 4 s later');
      // Shared, about a second; one second each would be three (under test:stress, up to ~2 s).
      assert.ok(elapsed >= 950 && elapsed < 2500, `close() took ${elapsed} ms`);
      console.log(`# close() with 3 silent idle connections: ${elapsed} ms`);
    }
  });

  it('with silenceMs: false, leaves a silenced read waiting (as the driver does)', async () => {
    const app = f.appName('watchdog-off');
    const sequelize = open(app, { silenceMs: false });
    const { result } = await silencedMidway(f, app, 'pg_sleep(0.3)', () =>
      sequelize.query('SELECT pg_sleep(0.3) AS slept', { type: QueryTypes.SELECT }),
    );
    assert.equal(await within(result, 5000), 'pending');
    // What a TCP timeout would do at last: the stranded read fails or is retried, either way it ends.
    f.proxy.closeStranded();
    assert.notEqual(await within(result, 10_000), 'pending');
  });
});

// max_connections is the server's, for everyone on it: lowered on a server of this describe's own.
describe('a long query on a server at max_connections (PostgreSQL)', () => {
  const MAX_CONNECTIONS = 12;
  let server: TestServer;
  let url: string;
  let role: string;
  const instances: Sequelize[] = [];
  const fillers: pg.Client[] = [];
  before(async () => {
    server = await TestServer.start({ flags: ['-c', `max_connections=${MAX_CONNECTIONS}`] });
    // Not a superuser: superusers get slots of their own (superuser_reserved_connections), so would its check.
    role = `app_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(8).toString('hex');
    await admin(server.url, (c) => c.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`));
    const u = new URL(server.url);
    u.username = role;
    u.password = password;
    url = u.toString();
  });
  after(async () => {
    await Promise.all(fillers.map((c) => c.end().catch(() => {})));
    await Promise.all(instances.map((s) => s.close().catch(() => {})));
    await server?.destroy();
  });

  it('the check refused for too many connections (53300) is proof of life: the query is not cut', async () => {
    const sequelize = testSequelize(url, { appName: uniqueAppName('full-server'), pool: { max: 1 }, plugin: { silenceMs: 1000 } });
    instances.push(sequelize);
    await sequelize.query('SELECT 1');
    // Sequelize's first connection (for the version) has left: a slot it freed later would let a check in.
    for (let i = 0; ; i++) {
      assert.ok(i < 500, 'the version connection never left');
      const { rows } = await admin(server.url, (c) =>
        c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [role]),
      );
      if (rows[0]!.n === 1) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    // Every other slot the role may use is taken, until the server refuses one.
    let refused: unknown;
    while (refused === undefined && fillers.length < MAX_CONNECTIONS) {
      const filler = new pg.Client({ connectionString: url });
      filler.on('error', () => {});
      const connected = await outcome(filler.connect());
      if (connected.ok) fillers.push(filler);
      else refused = connected.error;
    }
    assert.equal((refused as { code?: unknown } | undefined)?.code, '53300', `a new connection is refused with 53300: ${String(refused)}`);
    // Counts the watchdog's checks and how the server answered each.
    const connect = pg.Client.prototype.connect;
    const checks: unknown[] = [];
    pg.Client.prototype.connect = function (
      this: pg.Client & { connectionParameters?: { application_name?: unknown } },
      ...args: unknown[]
    ) {
      const result = (connect as (...a: unknown[]) => unknown).apply(this, args);
      if (this.connectionParameters?.application_name === 'sequelize-autoreconnect check' && result instanceof Promise)
        result.then(
          () => checks.push('connected'),
          (error: unknown) => checks.push((error as { code?: unknown } | undefined)?.code),
        );
      return result;
    } as typeof connect;
    const started = Date.now();
    let rows: unknown;
    try {
      rows = await sequelize.query('SELECT pg_sleep(4) AS slept, 7 AS answer', { type: QueryTypes.SELECT });
    } finally {
      pg.Client.prototype.connect = connect;
    }
    assert.deepEqual(rows, [{ slept: '', answer: 7 }]);
    assert.ok(Date.now() - started >= 4000);
    assert.ok(checks.length >= 2, `the watchdog asked ${checks.length} times`);
    assert.deepEqual(new Set(checks), new Set(['53300']), `how the server answered the checks: ${checks.join(', ')}`);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.retries, 0);
    assert.equal(stats.disconnects, 0);
  });
});
